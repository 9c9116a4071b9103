/**
 * SHA-256 and size of many git blobs from `git cat-file --batch`: a few processes for a whole
 * tree (never one per file), each object hashed as it is read back, so memory stays at one read
 * chunk however large a blob or the tree is. Chosen blobs are also copied out to files on the way.
 */
import { createHash, hash as oneShot, type Hash, randomUUID } from "node:crypto"
import { closeSync, openSync, writeSync } from "node:fs"
import { open, rm } from "node:fs/promises"
import { availableParallelism } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { Sha256 } from "../protocol/Hash.js"
import type { BlobRef } from "../protocol/Manifest.js"
import { Git, type GitFailed } from "./Git.js"

const EMPTY = Buffer.alloc(0)

interface Current {
  readonly oid: string
  remaining: number
  readonly size: number
  readonly hasher: Hash
  readonly fd: number | undefined
}

/**
 * A parser for `<oid> <type> <size>\n<content>\n` records. `done` receives each finished
 * object; `saveTo` names the files some of them are copied into (created, never overwritten).
 */
const makeParser = (saveTo: ReadonlyMap<string, string>, done: (oid: string, ref: BlobRef) => void) => {
  let header = EMPTY
  let current: Current | undefined
  // The newline git writes after each object's content.
  let trailer = false
  let openFd: number | undefined

  const finish = (object: Current, digest: string) => {
    if (object.fd !== undefined) {
      closeSync(object.fd)
      openFd = undefined
    }
    done(object.oid, { hash: `sha256:${digest}` as Sha256, size: object.size })
  }

  const feed = (chunk: Buffer): void => {
    let at = 0
    while (at < chunk.length) {
      if (trailer) {
        if (chunk[at] !== 0x0a) throw new Error("cat-file: missing newline after an object")
        trailer = false
        at++
        continue
      }
      if (current !== undefined) {
        const take = Math.min(current.remaining, chunk.length - at)
        const piece = chunk.subarray(at, at + take)
        // A whole small object in one chunk: the one-shot hash is much cheaper than a Hash object.
        if (take === current.size && current.fd === undefined) {
          const object = current
          current = undefined
          trailer = true
          at += take
          finish(object, oneShot("sha256", piece, "hex"))
          continue
        }
        current.hasher.update(piece)
        if (current.fd !== undefined) writeSync(current.fd, piece)
        current.remaining -= take
        at += take
        if (current.remaining === 0) {
          const object = current
          current = undefined
          trailer = true
          finish(object, object.hasher.digest("hex"))
        }
        continue
      }
      const newline = chunk.indexOf(0x0a, at)
      if (newline < 0) {
        header = Buffer.concat([header, chunk.subarray(at)])
        return
      }
      // The usual case, a header wholly inside this chunk, is decoded without a copy.
      const line = header.length === 0
        ? chunk.toString("latin1", at, newline)
        : Buffer.concat([header, chunk.subarray(at, newline)]).toString("latin1")
      header = EMPTY
      at = newline + 1
      const space = line.indexOf(" ")
      const oid = line.slice(0, space)
      if (!line.startsWith(" blob ", space)) throw new Error(`cat-file: ${line.slice(0, 100)} (expected a blob)`)
      const size = Number(line.slice(space + 6))
      const path = saveTo.get(oid)
      const fd = path === undefined ? undefined : openSync(path, "wx")
      openFd = fd
      current = { oid, remaining: size, size, hasher: createHash("sha256"), fd }
      if (size === 0) {
        const object = current
        current = undefined
        trailer = true
        finish(object, object.hasher.digest("hex"))
      }
    }
  }

  const complete = (): boolean => current === undefined && !trailer && header.length === 0
  const release = () => {
    if (openFd !== undefined) closeSync(openFd)
    openFd = undefined
  }
  return { feed, complete, release }
}

const READ_CHUNK = 1 << 20

/** Feeds a file to a parser in large reads: one read per MiB rather than one event per object. */
const parseFile = (file: string, parser: ReturnType<typeof makeParser>): Effect.Effect<void> =>
  Effect.promise(async () => {
    const handle = await open(file, "r")
    try {
      const buffer = Buffer.allocUnsafe(READ_CHUNK)
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, null)
        if (bytesRead === 0) break
        parser.feed(buffer.subarray(0, bytesRead))
      }
    } finally {
      await handle.close()
      await rm(file, { force: true })
    }
  })

export interface DigestOptions {
  /** A private directory for git's output (as large as the blobs). */
  readonly scratch: string
  readonly env?: Readonly<Record<string, string>>
  /** Blobs to copy out, by object id, to files that do not exist yet. */
  readonly saveTo?: ReadonlyMap<string, string>
}

/**
 * The digest of each blob in `oids` (duplicates read once), read from the repository at `cwd`.
 * A large list is split across one git per CPU (inflating objects is git's CPU-bound part); each
 * writes to a scratch file, since through a pipe cat-file's output arrives in one small write
 * per object. A missing object or one that is not a blob is a defect: callers only ask for
 * objects of trees they just listed.
 */
export const digestBlobs = (cwd: string, oids: Iterable<string>, options: DigestOptions): Effect.Effect<Map<string, BlobRef>, GitFailed, Git> =>
  Effect.gen(function*() {
    const unique = [...new Set(oids)]
    const digests = new Map<string, BlobRef>()
    if (unique.length === 0) return digests
    const git = yield* Git
    const parts = unique.length < 4096 ? 1 : Math.min(4, availableParallelism())
    const size = Math.ceil(unique.length / parts)
    const slices = Array.from({ length: parts }, (_, i) => unique.slice(i * size, (i + 1) * size)).filter((slice) => slice.length > 0)
    yield* Effect.forEach(slices, (slice) =>
      Effect.gen(function*() {
        const file = join(options.scratch, `cat-file-${randomUUID()}.out`)
        const parser = makeParser(options.saveTo ?? new Map(), (oid, ref) => digests.set(oid, ref))
        yield* git.run(cwd, ["cat-file", "--batch", "--buffer"], {
          input: Buffer.from(`${slice.join("\n")}\n`),
          stdoutFile: file,
          ...(options.env === undefined ? {} : { env: options.env })
        })
        yield* parseFile(file, parser).pipe(Effect.ensuring(Effect.sync(parser.release)))
        if (!parser.complete()) return yield* Effect.die(new Error("cat-file output ended inside an object"))
      }), { concurrency: "unbounded", discard: true })
    if (digests.size !== unique.length) {
      return yield* Effect.die(new Error(`cat-file returned ${digests.size} of ${unique.length} blobs`))
    }
    return digests
  })

/**
 * Where capture puts content-addressed blobs and where materialise gets them back. Blobs move
 * as files, never as whole buffers, so a 200 MB bundle costs disk, not memory. A store is not
 * trusted: materialise hashes every blob it fetches before using it.
 */
import { createHash } from "node:crypto"
import { constants, createReadStream, createWriteStream } from "node:fs"
import { copyFile, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { pipeline } from "node:stream/promises"
import { Data, Effect } from "effect"
import { sha256, type Sha256 } from "../protocol/Hash.js"
import type { BlobRef } from "../protocol/Manifest.js"

export interface BlobSink<E = never> {
  /** Stores the file's current bytes; the file is the caller's and stays where it is. */
  readonly putFile: (path: string) => Effect.Effect<BlobRef, E>
  readonly put: (bytes: Uint8Array) => Effect.Effect<BlobRef, E>
}

/**
 * Writes the blob `ref` names into the file `into` (which does not exist yet). A path rather
 * than bytes, so a large blob streams from the store to disk; the caller checks the hash.
 */
export type FetchBlob<E = never> = (ref: BlobRef, into: string) => Effect.Effect<void, E>

export class BlobNotFound extends Data.TaggedError("BlobNotFound")<{ readonly hash: Sha256 }> {
  override get message() {
    return `the blob store has no blob ${this.hash}`
  }
}

const hexOf = (hash: Sha256): string => hash.slice("sha256:".length)

/** The SHA-256 and size of a file, read as a stream. */
export const hashFile = (path: string): Effect.Effect<BlobRef> =>
  Effect.promise(async () => {
    const hasher = createHash("sha256")
    let size = 0
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      hasher.update(chunk as Buffer)
      size += (chunk as Buffer).length
    }
    return { hash: `sha256:${hasher.digest("hex")}` as Sha256, size }
  })

export interface MemoryStore {
  readonly sink: BlobSink
  readonly fetch: FetchBlob<BlobNotFound>
  /** The stored blobs by hash; tests replace entries to play a tampering store. */
  readonly blobs: Map<Sha256, Uint8Array>
}

/** Blobs held in a Map: for tests. */
export const memoryStore = (): MemoryStore => {
  const blobs = new Map<Sha256, Uint8Array>()
  const put = (bytes: Uint8Array): Effect.Effect<BlobRef> =>
    Effect.sync(() => {
      const hash = sha256(bytes)
      blobs.set(hash, Uint8Array.from(bytes))
      return { hash, size: bytes.length }
    })
  return {
    blobs,
    sink: { put, putFile: (path) => Effect.promise(() => readFile(path)).pipe(Effect.flatMap(put)) },
    fetch: (ref, into) => {
      const bytes = blobs.get(ref.hash)
      return bytes === undefined
        ? Effect.fail(new BlobNotFound({ hash: ref.hash }))
        : Effect.promise(() => writeFile(into, bytes, { flag: "wx" }))
    }
  }
}

export interface DirectoryStore {
  readonly sink: BlobSink
  readonly fetch: FetchBlob<BlobNotFound>
  /** The file holding a blob: `<root>/<hex of its SHA-256>`. */
  readonly pathOf: (hash: Sha256) => string
}

/** Blobs as files named by their hex hash under `root`, each written to a temp name and renamed, so a reader never sees half a blob. */
export const directoryStore = (root: string): DirectoryStore => {
  const pathOf = (hash: Sha256) => join(root, hexOf(hash))
  let counter = 0
  const tempName = () => join(root, `.tmp-${process.pid}-${++counter}-${Math.random().toString(36).slice(2)}`)

  // The temp file is renamed to its hash, or removed if anything fails on the way.
  const settle = (temp: string, ref: BlobRef) =>
    rename(temp, pathOf(ref.hash)).then(() => ref, async (error: unknown) => {
      await rm(temp, { force: true })
      throw error
    })

  const putFile = (path: string): Effect.Effect<BlobRef> =>
    Effect.promise(async () => {
      await mkdir(root, { recursive: true })
      const temp = tempName()
      const hasher = createHash("sha256")
      let size = 0
      try {
        await pipeline(
          createReadStream(path, { highWaterMark: 1 << 20 }),
          async function*(source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              hasher.update(chunk)
              size += chunk.length
              yield chunk
            }
          },
          createWriteStream(temp, { flags: "wx" })
        )
      } catch (error) {
        await rm(temp, { force: true })
        throw error
      }
      return settle(temp, { hash: `sha256:${hasher.digest("hex")}` as Sha256, size })
    })

  const put = (bytes: Uint8Array): Effect.Effect<BlobRef> =>
    Effect.promise(async () => {
      await mkdir(root, { recursive: true })
      const temp = tempName()
      await writeFile(temp, bytes, { flag: "wx" })
      return settle(temp, { hash: sha256(bytes), size: bytes.length })
    })

  const fetch: FetchBlob<BlobNotFound> = (ref, into) =>
    Effect.tryPromise({
      try: () => copyFile(pathOf(ref.hash), into, constants.COPYFILE_EXCL),
      catch: () => new BlobNotFound({ hash: ref.hash })
    })

  return { sink: { put, putFile }, fetch, pathOf }
}

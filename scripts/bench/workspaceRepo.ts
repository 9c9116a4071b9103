/**
 * Generates the workspace benchmark's git repositories under the OS temp dir: N small files
 * (100–300 bytes, 100 per directory, 100 directories per top-level package) in one commit, an
 * optional large binary file, and a small dirty state (modified, deleted and untracked files).
 *
 * The objects are built by one `git fast-import` fed through stdin and checked out once, so
 * generation costs two git processes rather than one per file. Repositories are cached by
 * VERSION and shape; a cached one is reused when its ready marker is present.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import type { Writable } from "node:stream"
import { gitEnv } from "../../src/workspace/Git.js"

/** Bump when the generated content or layout changes, so stale caches are not reused. */
export const VERSION = "ws-bench-v2"

export const CACHE_ROOT = join(tmpdir(), "warrant-bench-workspace")

export interface RepoSpec {
  readonly files: number
  /** Size of one extra committed binary file; 0 for none. */
  readonly bigFileBytes: number
}

export interface GeneratedRepo {
  readonly dir: string
  readonly spec: RepoSpec
  readonly reused: boolean
  /** Wall time of generation; 0 when reused. */
  readonly generationMs: number
  /** Untracked files the bench should allowlist, all matched by UNTRACKED_GLOB. */
  readonly untracked: ReadonlyArray<string>
  readonly modified: ReadonlyArray<string>
  readonly deleted: ReadonlyArray<string>
}

export const UNTRACKED_GLOB = "notes/*.md"
export const BIG_FILE_PATH = "assets/blob.bin"
const READY_MARKER = "warrant-bench-ready"
const FILES_PER_DIR = 100
const DIRS_PER_PACKAGE = 100
const MiB = 1024 * 1024

// ---------------------------------------------------------------------------------------------
// Deterministic content: every file is a pure function of its index, so the dirty state can be
// re-applied on a cached repository without reading anything back.

/** mulberry32: a tiny seeded PRNG, good enough to make blobs distinct and sizes vary. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const WORDS = ["alpha", "beta", "gamma", "delta", "effect", "layer", "scope", "stream", "queue", "fiber", "schema", "digest", "ref", "chunk", "option", "either"]

export const filePath = (i: number): string => {
  const dir = Math.floor(i / FILES_PER_DIR)
  const pkg = Math.floor(dir / DIRS_PER_PACKAGE)
  const pad = (n: number, w: number) => String(n).padStart(w, "0")
  return `pkg-${pad(pkg, 2)}/mod-${pad(dir % DIRS_PER_PACKAGE, 3)}/file-${pad(i % FILES_PER_DIR, 3)}.ts`
}

/** A small TypeScript-looking file of about 100–300 bytes, distinct per index. */
export const fileContent = (i: number): string => {
  const next = prng(i + 1)
  const target = 100 + Math.floor(next() * 200)
  let text = `// ${filePath(i)}\nexport const id${i} = ${Math.floor(next() * 2 ** 31)}\nexport const words = [`
  const words: Array<string> = []
  while (text.length + words.join(", ").length < target) words.push(`"${WORDS[Math.floor(next() * WORDS.length)]}"`)
  return `${text}${words.join(", ")}]\n`
}

/** One MiB of seeded random bytes; each chunk of the big file is this with its index stamped in. */
const randomMiB = (): Buffer => {
  const next = prng(0xb16)
  const buf = Buffer.allocUnsafe(MiB)
  for (let o = 0; o < MiB; o += 4) buf.writeUInt32LE(Math.floor(next() * 2 ** 32), o)
  return buf
}

// ---------------------------------------------------------------------------------------------
// Git plumbing for the generator (the system git, with the product's clean environment).

const git = (cwd: string, args: ReadonlyArray<string>, feed?: (stdin: Writable) => Promise<void>): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn("git", ["-c", "core.hooksPath=/dev/null", ...args], {
      cwd,
      env: { ...gitEnv(), GIT_AUTHOR_DATE: "1700000000 +0000", GIT_COMMITTER_DATE: "1700000000 +0000" },
      stdio: [feed === undefined ? "ignore" : "pipe", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()))
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()))
    child.on("error", reject)
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`git ${args.join(" ")} exited ${code}: ${err.trim()}`))))
    if (feed !== undefined) {
      child.stdin!.on("error", reject)
      feed(child.stdin!).then(() => child.stdin!.end(), reject)
    }
  })

/** Writes respecting backpressure, so a 200 MB blob is never buffered whole in this process. */
const write = (stream: Writable, chunk: string | Buffer): Promise<void> =>
  stream.write(chunk) ? Promise.resolve() : new Promise((resolve) => stream.once("drain", resolve))

/** The fast-import stream: one commit on refs/heads/main holding every file inline. */
const feedFastImport = (spec: RepoSpec) => async (stdin: Writable): Promise<void> => {
  const message = `bench: ${spec.files} files${spec.bigFileBytes > 0 ? ` and a ${spec.bigFileBytes / MiB} MiB binary` : ""}\n`
  await write(stdin, `commit refs/heads/main\ncommitter bench <bench@localhost> 1700000000 +0000\ndata ${Buffer.byteLength(message)}\n${message}`)
  const BATCH = 2000
  for (let start = 0; start < spec.files; start += BATCH) {
    let batch = ""
    for (let i = start; i < Math.min(spec.files, start + BATCH); i++) {
      const content = fileContent(i)
      batch += `M 100644 inline ${filePath(i)}\ndata ${Buffer.byteLength(content)}\n${content}\n`
    }
    await write(stdin, batch)
  }
  if (spec.bigFileBytes > 0) await feedBigFile(stdin, spec.bigFileBytes)
  await write(stdin, "done\n")
}

const feedBigFile = async (stdin: Writable, bytes: number): Promise<void> => {
  await write(stdin, `M 100644 inline ${BIG_FILE_PATH}\ndata ${bytes}\n`)
  const base = randomMiB()
  for (let offset = 0, chunk = 0; offset < bytes; offset += MiB, chunk++) {
    // A fresh copy per chunk: the stream may still hold the previous one.
    const piece = Buffer.from(base.subarray(0, Math.min(MiB, bytes - offset)))
    piece.writeUInt32LE(chunk, 0)
    await write(stdin, piece)
  }
  await write(stdin, "\n")
}

// ---------------------------------------------------------------------------------------------
// The dirty state: three files modified, one deleted, five untracked under UNTRACKED_GLOB.

const dirtyPlan = (files: number) => {
  const pick = (fraction: number) => Math.floor(files * fraction)
  return {
    modified: [pick(0.1), pick(0.5), pick(0.9)],
    deleted: [pick(0.3) + 1],
    untracked: [1, 2, 3, 4, 5].map((n) => `notes/todo-${n}.md`)
  }
}

/** Idempotent, so it is re-applied on every run whatever an earlier run left behind. */
const applyDirtyState = (dir: string, files: number) => {
  const plan = dirtyPlan(files)
  for (const i of plan.modified) writeFileSync(join(dir, filePath(i)), `${fileContent(i)}// edited in the working tree\n`)
  for (const i of plan.deleted) rmSync(join(dir, filePath(i)), { force: true })
  mkdirSync(join(dir, "notes"), { recursive: true })
  for (const [n, path] of plan.untracked.entries()) writeFileSync(join(dir, path), `# todo ${n + 1}\n\n- not yet committed\n`)
  return { modified: plan.modified.map(filePath), deleted: plan.deleted.map(filePath), untracked: plan.untracked }
}

// ---------------------------------------------------------------------------------------------

const repoDir = (spec: RepoSpec) => join(CACHE_ROOT, `${VERSION}-${spec.files}f-${spec.bigFileBytes}b`)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Builds the repository in a private directory and renames it into place only when complete. */
const generate = async (dir: string, spec: RepoSpec): Promise<void> => {
  const partial = `${dir}.partial-${process.pid}`
  mkdirSync(dirname(dir), { recursive: true })
  try {
    await git(dirname(dir), ["init", "-q", "-b", "main", partial])
    await git(partial, ["fast-import", "--quiet"], feedFastImport(spec))
    await git(partial, ["-c", "checkout.workers=0", "checkout", "-q", "-f", "main"])
    // Files written in the same second as the index are "racily clean" and git would re-hash
    // them on every status; re-stamping the index a second later makes the repo look settled.
    await sleep(1100)
    await git(partial, ["update-index", "-q", "--refresh"])
    writeFileSync(join(partial, ".git", READY_MARKER), `${VERSION}\n`)
    renameSync(partial, dir)
  } catch (error) {
    rmSync(partial, { recursive: true, force: true })
    throw error
  }
}

const isReady = (dir: string) => {
  const marker = join(dir, ".git", READY_MARKER)
  return existsSync(marker) && readFileSync(marker, "utf8").trim() === VERSION
}

/** The cached repository for `spec`, generated if absent, with the dirty state applied. */
export const ensureRepo = async (spec: RepoSpec): Promise<GeneratedRepo> => {
  const dir = repoDir(spec)
  const reused = isReady(dir)
  const start = performance.now()
  if (!reused) {
    if (existsSync(dir)) throw new Error(`${dir} exists but is not a complete ${VERSION} bench repository; remove it to regenerate`)
    await generate(dir, spec)
  }
  const generationMs = reused ? 0 : performance.now() - start
  return { dir, spec, reused, generationMs, ...applyDirtyState(dir, spec.files) }
}

/**
 * Collecting a session's output: one binary-safe diff of everything the workspace changed
 * against the commit it started from, and the changed files with content hashes.
 *
 * The workspace is untrusted once a session has run in it, so git is never asked to read the
 * working tree through its own machinery (`git add` would run clean filters, honour
 * `core.autocrlf`, `core.fileMode` and `core.worktree` from a config the session may have
 * written). Instead the tree is read here with lstat, blobs are stored with
 * `git hash-object --no-filters`, and the changes are staged into a temporary index
 * (`GIT_INDEX_FILE`) seeded from the base; the repository's own index is never touched.
 *
 * Which files count: every path of the base tree (a tracked file is always seen, ignore rules
 * never hide its change or deletion) plus every untracked file git does not ignore, by the
 * `.gitignore` files as they stand after the session and `.git/info/exclude`. A session can
 * therefore keep a new file out of its own output (e.g. a build directory it ignored), never a
 * change to a file the base had. Embedded repositories and special files cannot travel in a
 * diff; they are listed in `skipped`.
 */
import { realpath, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Either, Schema } from "effect"
import { Sha256, sha256 } from "../protocol/Hash.js"
import { WorkspacePath } from "../protocol/WorkspacePath.js"
import { Git, withIndex } from "./Git.js"
import { gitDirProblem } from "./GitDirGuard.js"
import { parseLsTree, parseNames, parseRawDiff, type RawChange } from "./gitParse.js"
import { parseWorkspaceRelativePath, PathEscape } from "./Paths.js"
import { repositoryRoot, resolveCommit } from "./Repository.js"
import { tempDirectory } from "./TempDir.js"
import { makeReader, readFileNoFollow } from "./Worktree.js"

export const ChangeStatus = Schema.Literal("added", "modified", "deleted", "renamed", "mode")
export type ChangeStatus = typeof ChangeStatus.Type

/** One changed path. `hash`/`size` describe the new content (a symlink's content is its target); a deletion has neither. */
export const ChangedFile = Schema.Struct({
  path: WorkspacePath,
  status: ChangeStatus,
  hash: Schema.optional(Sha256),
  size: Schema.optional(Schema.NonNegativeInt),
  executable: Schema.optional(Schema.Boolean),
  symlink: Schema.optional(Schema.Boolean),
  /** The old path of a rename. */
  from: Schema.optional(WorkspacePath)
})
export type ChangedFile = typeof ChangedFile.Type

export interface Skipped {
  readonly path: string
  readonly reason: string
}

export interface Output {
  /** `git diff --binary` of the base against the output; empty when nothing changed. */
  readonly diff: Uint8Array
  readonly files: ReadonlyArray<ChangedFile>
  /** What the workspace holds but a diff cannot carry; each left as it was in the base. */
  readonly skipped: ReadonlyArray<Skipped>
  /** The full commit id `baseRef` resolved to. */
  readonly baseCommit: string
}

export class OutputFailed extends Schema.TaggedError<OutputFailed>()("OutputFailed", {
  dir: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot collect the output of ${this.dir}: ${this.reason}`
  }
}

export interface CollectOptions {
  /** The largest diff kept in memory (default 512 MiB); a larger one is a GitFailed. */
  readonly maxDiffBytes?: number
}

/** Settings a repository's config could use to change the patch text; pinned so `git apply` reads it back. */
export const DIFF_FLAGS: ReadonlyArray<string> = [
  "-c", "diff.noprefix=false",
  "-c", "diff.mnemonicPrefix=false",
  "-c", "diff.suppressBlankEmpty=false"
]
// -U3 pinned: a session's diff.context=0 would make a patch git apply cannot place.
const PATCH_ARGS = ["--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative", "--src-prefix=a/", "--dst-prefix=b/", "-M", "-U3", "--inter-hunk-context=0"]

// A session could add `refs/replace/<base>` so that "the base" reads as another tree; objects are
// always taken as they are.
const REAL_OBJECTS = { GIT_NO_REPLACE_OBJECTS: "1" }

const MODE_FILE = "100644"
const MODE_EXEC = "100755"
const MODE_LINK = "120000"
const MODE_GITLINK = "160000"

/** Splits `git cat-file --batch` output into the sha256 and size of each blob, in order. */
const hashBlobs = (output: Buffer): Array<{ readonly hash: Sha256; readonly size: number }> => {
  const blobs: Array<{ hash: Sha256; size: number }> = []
  let at = 0
  while (at < output.length) {
    const newline = output.indexOf(0x0a, at)
    const size = Number(output.subarray(at, newline).toString("latin1").split(" ")[2])
    blobs.push({ hash: sha256(output.subarray(newline + 1, newline + 1 + size)), size })
    at = newline + 1 + size + 1
  }
  return blobs
}

const statusOf = (change: RawChange): ChangeStatus => {
  switch (change.status) {
    case "A": return "added"
    case "D": return "deleted"
    case "R": return "renamed"
    case "M": return change.oldOid === change.newOid && change.oldMode !== change.newMode ? "mode" : "modified"
    default: return "modified"
  }
}

export const collectOutput = Effect.fn("Workspace.collectOutput")(function*(dir: string, baseRef: string, options: CollectOptions = {}) {
  const git = yield* Git
  const refuse = (reason: string) => new OutputFailed({ dir, reason })
  const real = yield* Effect.tryPromise({ try: () => realpath(dir), catch: () => refuse("it does not exist") })
  const problem = yield* gitDirProblem(real)
  if (problem !== undefined) return yield* refuse(problem)
  const root = yield* repositoryRoot(real).pipe(Effect.mapError(refuse))
  const baseCommit = yield* resolveCommit(root, baseRef)
  if (baseCommit === undefined) return yield* refuse(`the base ${JSON.stringify(baseRef)} is not a commit in its repository`)

  const scratch = yield* tempDirectory("output")
  const env = { ...withIndex(join(scratch, "index")), ...REAL_OBJECTS }
  yield* git.run(root, ["read-tree", baseCommit], { env })
  const base = new Map(parseLsTree((yield* git.run(root, ["ls-tree", "-r", "-z", "--full-tree", baseCommit], { env: REAL_OBJECTS })).stdout).map((entry) => [entry.path, entry]))
  const untracked = parseNames((yield* git.run(root, ["-c", "core.excludesFile=/dev/null", "ls-files", "-z", "--others", "--exclude-standard"], { env })).stdout)

  const skipped: Array<Skipped> = []
  const candidates: Array<string> = []
  for (const path of [...base.keys(), ...untracked]) {
    if (base.get(path)?.mode === MODE_GITLINK) continue
    if (path.endsWith("/")) {
      skipped.push({ path, reason: "an embedded git repository" })
      continue
    }
    const parsed = parseWorkspaceRelativePath(path)
    if (Either.isLeft(parsed)) skipped.push({ path, reason: parsed.left.reason })
    else candidates.push(path)
  }

  // Each present candidate becomes a file git hashes: the file itself, or for a symlink (and a
  // name `--stdin-paths` cannot carry, one with a newline) a staged copy of its bytes.
  const read = makeReader(root)
  const hashed: Array<{ readonly path: string; readonly mode: string; readonly source: string }> = []
  const removed: Array<string> = []
  yield* Effect.tryPromise({
    try: async () => {
      let staged = 0
      const stage = async (bytes: Uint8Array) => {
        const copy = join(scratch, `blob-${staged++}`)
        await writeFile(copy, bytes)
        return copy
      }
      for (const path of candidates) {
        const entry = await read(path)
        if (entry.kind === "file") {
          const absolute = join(root, path)
          hashed.push({ path, mode: entry.executable ? MODE_EXEC : MODE_FILE, source: absolute.includes("\n") ? await stage(await readFileNoFollow(absolute)) : absolute })
        } else if (entry.kind === "symlink") {
          hashed.push({ path, mode: MODE_LINK, source: await stage(entry.target) })
        } else {
          if (base.has(path)) removed.push(path)
          if (entry.kind === "other" && entry.what !== "a directory") skipped.push({ path, reason: entry.what })
        }
      }
    },
    catch: (error) => refuse(`reading the working tree failed: ${error instanceof Error ? error.message : String(error)}`)
  })

  const oids = hashed.length === 0 ? [] : (yield* git.run(root, ["hash-object", "-w", "--no-filters", "--stdin-paths"], {
    input: Buffer.from(hashed.map((file) => `${file.source}\n`).join(""), "utf8")
  })).stdout.toString("latin1").split("\n").filter((line) => line !== "")
  if (oids.length !== hashed.length) return yield* refuse("git hashed a different number of files than it was given")

  // Removals go first so a file replaced by a directory of the same name can be staged after it.
  const records: Array<string> = removed.map((path) => `0 ${base.get(path)!.oid}\t${path}\0`)
  hashed.forEach((file, i) => {
    const before = base.get(file.path)
    if (before === undefined || before.oid !== oids[i] || before.mode !== file.mode) records.push(`${file.mode} ${oids[i]}\t${file.path}\0`)
  })
  if (records.length === 0) return { diff: new Uint8Array(0), files: [], skipped, baseCommit } satisfies Output
  yield* git.run(root, ["update-index", "-z", "--add", "--remove", "--replace", "--index-info"], { env, input: Buffer.from(records.join(""), "utf8") })

  const maxOutputBytes = options.maxDiffBytes ?? 512 * 1024 * 1024
  const raw = parseRawDiff((yield* git.run(root, [...DIFF_FLAGS, "diff", "--cached", "--raw", "-z", "--no-abbrev", "-M", baseCommit, "--"], { env })).stdout)
  const diff = (yield* git.run(root, [...DIFF_FLAGS, "diff", "--cached", ...PATCH_ARGS, baseCommit, "--"], { env, maxOutputBytes })).stdout

  const present = raw.filter((change) => change.status !== "D")
  const blobs = present.length === 0 ? [] : hashBlobs((yield* git.run(root, ["cat-file", "--batch"], {
    env: REAL_OBJECTS,
    input: Buffer.from(present.map((change) => `${change.newOid}\n`).join(""), "latin1"),
    maxOutputBytes
  })).stdout)

  const files: Array<ChangedFile> = []
  let next = 0
  for (const change of raw) {
    const path = yield* parseOrFail(change.path)
    const from = change.from === undefined ? undefined : yield* parseOrFail(change.from)
    const status = statusOf(change)
    if (status === "deleted") {
      files.push({ path, status })
      continue
    }
    const blob = blobs[next++]!
    files.push({
      path,
      status,
      hash: blob.hash,
      size: blob.size,
      executable: change.newMode === MODE_EXEC,
      ...(change.newMode === MODE_LINK ? { symlink: true } : {}),
      ...(from === undefined ? {} : { from })
    })
  }
  return { diff: new Uint8Array(diff.buffer, diff.byteOffset, diff.byteLength), files, skipped, baseCommit } satisfies Output
}, Effect.scoped)

const parseOrFail = (path: string): Effect.Effect<WorkspacePath, PathEscape> => {
  const parsed = parseWorkspaceRelativePath(path)
  return Either.isLeft(parsed) ? Effect.fail(parsed.left) : Effect.succeed(parsed.right)
}

/**
 * The last check of a materialisation: the working tree, read back through git exactly as
 * capture read the original (a temporary index, `add -A`, one tree), must hold the manifest's
 * files and nothing else, with the same hashes, sizes and executable bits, and no symlink in it
 * may lead outside.
 */
import { copyFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import type { BlobRef, Manifest } from "../protocol/Manifest.js"
import { digestBlobs } from "./CatFile.js"
import { Git, type GitFailed } from "./Git.js"
import { PathEscape } from "./Paths.js"
import { symlinkEscape } from "./Symlinks.js"
import { EXECUTABLE_MODE, listTree, SYMLINK_MODE } from "./TreeEntries.js"
import { MaterializeFailed } from "./WorkspaceError.js"

const show = (path: string) => JSON.stringify(path)

/**
 * `directory` is the materialised repository, `scratch` a private directory for the temporary
 * index, `known` the digests already computed by object id (the snapshot's blobs, hashed while
 * they were checked out).
 */
export const verifyTree = (
  directory: string,
  scratch: string,
  manifest: Manifest,
  known: ReadonlyMap<string, BlobRef> = new Map()
): Effect.Effect<void, MaterializeFailed | PathEscape | GitFailed, Git> =>
  Effect.gen(function*() {
    const git = yield* Git
    const failed = (reason: string) => new MaterializeFailed({ reason })
    // Starting from a copy of the real index keeps its stat cache: unchanged files are not re-read.
    const index = join(scratch, "verify-index")
    yield* Effect.promise(() => copyFile(join(directory, ".git", "index"), index))
    const env = { GIT_INDEX_FILE: index }
    yield* git.run(directory, ["add", "-A", "-f"], { env })
    const tree = (yield* git.run(directory, ["write-tree"], { env })).stdout.toString("utf8").trim()
    const entries = (yield* listTree(directory, tree)).filter((entry) => entry.type === "blob")

    for (const entry of entries) {
      if (entry.mode !== SYMLINK_MODE) continue
      const why = yield* symlinkEscape(directory, entry.path)
      if (why !== undefined) return yield* new PathEscape({ path: entry.path, reason: `it is a symlink and ${why}` })
    }

    const expected = new Map(manifest.files.map((file) => [file.path as string, file]))
    for (const entry of entries) {
      const file = expected.get(entry.path)
      if (file === undefined) return yield* failed(`the materialised tree has ${show(entry.path)}, which the manifest does not list`)
      if ((entry.mode === SYMLINK_MODE) !== (file.symlink === true)) {
        return yield* failed(`${show(entry.path)} is ${file.symlink === true ? "not " : ""}a symlink, unlike in the manifest`)
      }
      if ((entry.mode === EXECUTABLE_MODE) !== (file.executable === true)) {
        return yield* failed(`${show(entry.path)} is ${file.executable === true ? "not " : ""}executable, unlike in the manifest`)
      }
    }
    if (entries.length !== expected.size) {
      const present = new Set(entries.map((entry) => entry.path))
      const lacking = manifest.files.find((file) => !present.has(file.path))
      return yield* failed(`the manifest lists ${show(lacking?.path ?? "?")}, which the bundle, the dirty diff and the untracked files do not produce`)
    }

    const digests = yield* digestBlobs(directory, entries.filter((entry) => !known.has(entry.oid)).map((entry) => entry.oid), { scratch })
    for (const entry of entries) {
      const file = expected.get(entry.path)!
      const actual = known.get(entry.oid) ?? digests.get(entry.oid)!
      if (actual.hash !== file.hash || actual.size !== file.size) {
        return yield* failed(`${show(entry.path)} materialised as ${actual.hash} (${actual.size} bytes), but the manifest says ${file.hash} (${file.size} bytes)`)
      }
    }
  })

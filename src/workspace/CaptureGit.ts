/**
 * Capture of a git working tree, without writing to the repository: every object capture makes
 * (the snapshot tree and commit, blobs of dirty and untracked files) goes to a private scratch
 * object store that borrows the repository's objects as alternates, and every index is a temp
 * file. The state is read from git once, so the diff, the hashes and the blobs agree even if
 * the tree changes meanwhile.
 */
import { writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { Effect, type Either } from "effect"
import type { DeniedPath, Manifest, ManifestFile } from "../protocol/Manifest.js"
import type { WorkspacePath } from "../protocol/WorkspacePath.js"
import type { BlobSink } from "./Blobs.js"
import { buildTrees } from "./CaptureTrees.js"
import { digestBlobs } from "./CatFile.js"
import type { PathMatcher } from "./DenyPatterns.js"
import { Git, type GitFailed } from "./Git.js"
import { parseWorkspaceRelativePath, type PathEscape } from "./Paths.js"
import { SNAPSHOT_REF } from "./Snapshot.js"
import { tempDirectory } from "./TempDir.js"
import { EXECUTABLE_MODE, listTree, SYMLINK_MODE } from "./TreeEntries.js"
import { CaptureFailed } from "./WorkspaceError.js"

export interface GitCaptureInput {
  readonly root: string
  readonly deny: PathMatcher
  readonly allow: PathMatcher
  readonly deniedPatterns: ReadonlyArray<string>
}

/** The options every diff shipped to `git apply` needs, whatever the repository's diff config says. */
export const DIFF_OPTIONS: ReadonlyArray<string> = [
  "--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames", "-U3",
  "--src-prefix=a/", "--dst-prefix=b/", "--no-relative", "--ignore-submodules=none"
]

/** A path as the manifest spells it; one the wire form cannot carry (a backslash, say) fails the capture. */
export const wirePath = (path: string): Either.Either<WorkspacePath, PathEscape> => parseWorkspaceRelativePath(path)

export const captureGit = <E>(input: GitCaptureInput, sink: BlobSink<E>): Effect.Effect<Manifest, CaptureFailed | PathEscape | GitFailed | E, Git> =>
  Effect.scoped(Effect.gen(function*() {
    const git = yield* Git
    const { root, deny, allow } = input
    const failed = (reason: string) => new CaptureFailed({ directory: root, reason })
    const text = (out: Buffer) => out.toString("utf8").trim()

    const head = text((yield* git.run(root, ["rev-parse", "-q", "--verify", "HEAD^{commit}"], { okCodes: [1] })).stdout)
    if (head === "") {
      return yield* failed("the repository has no commit yet; commit at least once, or capture it as a plain directory with a file allowlist")
    }
    const [objectsOut, formatOut] = yield* Effect.all([
      git.run(root, ["rev-parse", "--git-path", "objects"]),
      git.run(root, ["rev-parse", "--show-object-format"])
    ], { concurrency: 2 })

    // The scratch repository: its own object directory, with the repository's as an alternate.
    const scratch = yield* tempDirectory("capture")
    const store = join(scratch, "repo")
    yield* git.run(scratch, ["init", "-q", "--bare", `--object-format=${text(formatOut.stdout)}`, store])
    yield* Effect.promise(() => writeFile(join(store, "objects", "info", "alternates"), `${resolve(root, text(objectsOut.stdout))}\n`))
    const env = { GIT_INDEX_FILE: join(scratch, "index"), GIT_OBJECT_DIRECTORY: join(store, "objects") }

    // Hashing the base tree's blobs is most of a capture's work; it runs while the trees, the
    // diff and the bundle are built.
    const headEntries = yield* listTree(root, head)
    const diffFile = join(scratch, "dirty.diff")
    const bundleFile = join(scratch, "snapshot.bundle")
    const [baseDigests, trees] = yield* Effect.all([
      digestBlobs(root, headEntries.filter((e) => e.type === "blob").map((e) => e.oid), { scratch }),
      Effect.gen(function*() {
        const trees = yield* buildTrees({ root, head, headEntries, deny, allow, env })
        if (trees.workTree !== trees.snapshotTree) {
          yield* git.run(root, ["diff", ...DIFF_OPTIONS, `--output=${diffFile}`, trees.snapshotTree, trees.workTree], { env })
        }
        yield* git.run(store, ["update-ref", SNAPSHOT_REF, trees.snapshotCommit])
        yield* git.run(store, ["bundle", "create", "-q", bundleFile, SNAPSHOT_REF])
        return trees
      })
    ], { concurrency: 2 })

    // Then the blobs the base does not have (changed and untracked files), copying out the
    // untracked ones as git stores them.
    const blobs = trees.entries.filter((e) => e.type === "blob")
    const saveTo = new Map<string, string>()
    for (const entry of blobs) {
      if (trees.untracked.has(entry.path) && !saveTo.has(entry.oid)) saveTo.set(entry.oid, join(scratch, `untracked-${saveTo.size}`))
    }
    const fresh = blobs.filter((e) => !baseDigests.has(e.oid) || saveTo.has(e.oid)).map((e) => e.oid)
    const moreDigests = yield* digestBlobs(root, fresh, { scratch, env, saveTo })

    const bundle = yield* sink.putFile(bundleFile)
    const dirtyDiff = trees.workTree === trees.snapshotTree ? undefined : yield* sink.putFile(diffFile)
    yield* Effect.forEach(saveTo.values(), (file) => sink.putFile(file), { concurrency: 8, discard: true })

    const files: Array<ManifestFile> = []
    for (const entry of blobs) {
      const digest = moreDigests.get(entry.oid) ?? baseDigests.get(entry.oid)!
      files.push({
        path: yield* wirePath(entry.path),
        hash: digest.hash,
        size: digest.size,
        ...(entry.mode === EXECUTABLE_MODE ? { executable: true } : {}),
        ...(entry.mode === SYMLINK_MODE ? { symlink: true } : {}),
        ...(trees.untracked.has(entry.path) ? { untracked: true } : {})
      })
    }
    const deniedPaths: Array<DeniedPath> = []
    for (const [path, pattern] of [...trees.denied].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      deniedPaths.push({ path: yield* wirePath(path), pattern })
    }
    const manifest: Manifest = {
      version: "warrant.manifest.v1",
      source: "git",
      baseRef: head,
      bundle,
      ...(dirtyDiff === undefined ? {} : { dirtyDiff }),
      files,
      denied: deniedPaths,
      deniedPatterns: [...input.deniedPatterns]
    }
    return manifest
  }))

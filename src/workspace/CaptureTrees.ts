/**
 * The three trees of a git capture, built in a temporary index and a scratch object store (the
 * repository is only read): the snapshot (the base tree minus denied paths), the work tree (the
 * snapshot plus the staged and unstaged changes of tracked files) and the full tree (plus the
 * allowlisted untracked files). Every path there is judged against the deny patterns once.
 */
import { lstat } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import type { PathMatcher } from "./DenyPatterns.js"
import { Git, type GitFailed } from "./Git.js"
import { snapshotCommitEnv } from "./Snapshot.js"
import { symlinkEscape } from "./Symlinks.js"
import { listTree, nulList, parseNames, SYMLINK_MODE, type TreeEntry } from "./TreeEntries.js"
import { CaptureFailed } from "./WorkspaceError.js"

export interface TreesInput {
  readonly root: string
  readonly head: string
  readonly headEntries: ReadonlyArray<TreeEntry>
  readonly deny: PathMatcher
  readonly allow: PathMatcher
  /** GIT_INDEX_FILE and GIT_OBJECT_DIRECTORY pointing into the scratch directory. */
  readonly env: Readonly<Record<string, string>>
}

export interface Trees {
  readonly snapshotTree: string
  readonly snapshotCommit: string
  readonly workTree: string
  /** Every entry of the full tree (files, links, gitlinks of clean submodules). */
  readonly entries: ReadonlyArray<TreeEntry>
  readonly untracked: ReadonlySet<string>
  /** Denied paths (tracked, changed or untracked; never ignored ones) with the first pattern that denied each. */
  readonly denied: ReadonlyMap<string, string>
}

/** The empty blob (SHA-1 and SHA-256 repositories): an empty denied file has nothing to leak. */
const EMPTY_BLOBS = new Set([
  "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
  "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813"
])

export const buildTrees = (input: TreesInput): Effect.Effect<Trees, CaptureFailed | GitFailed, Git> =>
  Effect.gen(function*() {
    const git = yield* Git
    const { root, env, deny, allow } = input
    const failed = (reason: string) => new CaptureFailed({ directory: root, reason })
    const text = (out: Buffer) => out.toString("utf8").trim()
    const withIndex = (args: ReadonlyArray<string>, stdin?: Buffer) => git.run(root, args, stdin === undefined ? { env } : { env, input: stdin })

    // What differs from the base (staged or not) and what is untracked (ignored files excluded).
    // Both read the real index without writing it (GIT_OPTIONAL_LOCKS=0).
    const [changedOut, untrackedOut] = yield* Effect.all([
      git.run(root, ["diff", "HEAD", "--name-only", "-z", "--no-renames", "--ignore-submodules=none", "--no-ext-diff"], { maxOutputBytes: 1 << 30 }),
      git.run(root, ["ls-files", "--others", "--exclude-standard", "-z"], { maxOutputBytes: 1 << 30 })
    ], { concurrency: 2 })
    const changed = parseNames(changedOut.stdout)
    // A trailing slash marks a nested repository: not part of this tree's content.
    const untracked = parseNames(untrackedOut.stdout).filter((path) => !path.endsWith("/"))

    const submodules = new Set(input.headEntries.filter((e) => e.type === "commit").map((e) => e.path))
    const dirtySubmodule = changed.find((path) => submodules.has(path))
    if (dirtySubmodule !== undefined) {
      return yield* failed(`the submodule ${dirtySubmodule} has uncommitted changes or a moved HEAD; commit them in the submodule and in this repository, or clean it`)
    }

    const denied = new Map<string, string>()
    for (const path of [...input.headEntries.map((e) => e.path), ...changed, ...untracked]) {
      if (denied.has(path)) continue
      const pattern = deny.firstMatch(path)
      if (pattern !== undefined) denied.set(path, pattern)
    }

    // The snapshot: the base tree minus denied paths, as a parentless commit.
    yield* withIndex(["read-tree", input.head])
    const untrackedAll = new Set(untracked)
    const deniedTracked = [...denied.keys()].filter((path) => !untrackedAll.has(path))
    if (deniedTracked.length > 0) yield* withIndex(["update-index", "-z", "--force-remove", "--stdin"], nulList(deniedTracked))
    const snapshotTree = text((yield* withIndex(["write-tree"])).stdout)
    const snapshotCommit = text((yield* git.run(root, ["commit-tree", snapshotTree, "-m", `warrant snapshot of ${input.head}`], {
      env: { ...env, ...snapshotCommitEnv }
    })).stdout)

    // The working state of tracked files on top of it (git hashes only the changed ones), then
    // the allowlisted untracked files.
    const dirty = changed.filter((path) => !denied.has(path))
    if (dirty.length > 0) yield* withIndex(["update-index", "-z", "--add", "--remove", "--stdin"], nulList(dirty))
    const workTree = text((yield* withIndex(["write-tree"])).stdout)
    const shipped = untracked.filter((path) => !denied.has(path) && allow.firstMatch(path) !== undefined)
    if (shipped.length > 0) yield* withIndex(["update-index", "-z", "--add", "--stdin"], nulList(shipped))
    const fullTree = shipped.length > 0 ? text((yield* withIndex(["write-tree"])).stdout) : workTree

    const entries = yield* listTree(root, fullTree, env)

    // Denial is by path, but a denied file's content must not travel under another name either
    // (`git mv .env config.txt`, or a copy): its blob, as committed and as on disk, is refused.
    const deniedOids = new Map<string, string>()
    for (const entry of input.headEntries) {
      if (entry.type === "blob" && denied.has(entry.path)) deniedOids.set(entry.oid, entry.path)
    }
    const onDisk: Array<string> = []
    for (const path of denied.keys()) {
      const info = yield* Effect.promise(() => lstat(join(root, path)).catch(() => undefined))
      if (info?.isFile() === true) onDisk.push(path)
    }
    // --stdin-paths reads one path per line, so a name with a newline is hashed on its own.
    const plain = onDisk.filter((path) => !path.includes("\n"))
    if (plain.length > 0) {
      const oids = text((yield* git.run(root, ["hash-object", "--stdin-paths"], { env, input: Buffer.from(plain.map((p) => `${p}\n`).join(""), "utf8") })).stdout).split("\n")
      oids.forEach((oid, i) => deniedOids.set(oid, plain[i]!))
    }
    for (const path of onDisk.filter((path) => path.includes("\n"))) {
      deniedOids.set(text((yield* git.run(root, ["hash-object", "--", path], { env })).stdout), path)
    }
    for (const entry of entries) {
      const twin = entry.type === "blob" && !EMPTY_BLOBS.has(entry.oid) ? deniedOids.get(entry.oid) : undefined
      if (twin !== undefined && !denied.has(entry.path)) {
        return yield* failed(`${entry.path} has the same content as the denied ${twin}; remove it, or add a deny pattern for it`)
      }
    }

    for (const entry of entries) {
      if (entry.type === "commit" && !submodules.has(entry.path)) {
        return yield* failed(`${entry.path} is a submodule added since the last commit; commit it, or remove it from the index`)
      }
      if (entry.mode === SYMLINK_MODE) {
        const why = yield* symlinkEscape(root, entry.path)
        if (why !== undefined) {
          return yield* failed(`${entry.path} is a symlink that cannot be shipped: ${why}; replace it with the file it points to, remove it, or add a deny pattern for it`)
        }
      }
    }
    return { snapshotTree, snapshotCommit, workTree, entries, untracked: new Set(shipped), denied }
  })

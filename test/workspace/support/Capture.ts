/**
 * Helpers for the capture and materialise tests: looking inside a bundle, and reading a working
 * tree as a comparable map (executable bit and content hash per file, target per link).
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import type { Sha256 } from "../../../src/protocol/Hash.js"
import type { MemoryStore } from "../../../src/workspace/Blobs.js"
import { Git } from "../../../src/workspace/Git.js"
import { git, snapshot, tempDir } from "./GitRepo.js"


/** Every file below `dir` except `.git`, as `x <sha>` / `- <sha>` (executable or not) or `link <target>`. */
export const treeOf = (dir: string): Record<string, string> =>
  Object.fromEntries(Object.entries(snapshot(dir)).map(([path, entry]) => {
    const file = /^file ([0-7]+) ([0-9a-f]+)$/.exec(entry)
    return [path, file === null ? entry : `${(parseInt(file[1]!, 8) & 0o100) !== 0 ? "x" : "-"} ${file[2]}`]
  }))

export const without = (tree: Record<string, string>, paths: ReadonlyArray<string>): Record<string, string> =>
  Object.fromEntries(Object.entries(tree).filter(([path]) => !paths.includes(path)))

/** The bundle's blob written to a file and cloned: every object in it, as the bytes `cat-file --batch-all-objects --batch` prints. */
export const bundleContents = (store: MemoryStore, hash: Sha256) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("bundle")
    const file = join(dir, "b.bundle")
    writeFileSync(file, store.blobs.get(hash)!)
    yield* git(dir, "init", "-q", "--bare", "repo")
    const repo = join(dir, "repo")
    yield* git(repo, "fetch", "-q", file, "+refs/*:refs/*")
    const objects = yield* Effect.flatMap(Git, (g) => g.run(repo, ["cat-file", "--batch-all-objects", "--batch"]))
    const refs = yield* git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    const commits = yield* git(repo, "rev-list", "--all", "--parents")
    return { objects: objects.stdout, refs, commits: commits.split("\n") }
  })

/** The text of a stored blob. */
export const blobText = (store: MemoryStore, hash: Sha256): string => Buffer.from(store.blobs.get(hash)!).toString("utf8")

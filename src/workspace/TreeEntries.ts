/**
 * The entries of `git ls-tree -r -z --full-tree`: `<mode> SP <type> SP <oid> TAB <path> NUL`.
 * Paths are taken verbatim between NULs (quotePath is off), so every file name survives.
 */
import { Effect } from "effect"
import { Git, type GitFailed } from "./Git.js"

export interface TreeEntry {
  readonly mode: string
  /** "blob" (a file or a symlink) or "commit" (a submodule's gitlink). */
  readonly type: string
  readonly oid: string
  readonly path: string
}

export const SYMLINK_MODE = "120000"
export const EXECUTABLE_MODE = "100755"

export const parseTreeEntries = (output: Buffer): Array<TreeEntry> => {
  const entries: Array<TreeEntry> = []
  for (const record of output.toString("utf8").split("\0")) {
    if (record === "") continue
    const tab = record.indexOf("\t")
    const [mode = "", type = "", oid = ""] = record.slice(0, tab).split(" ")
    entries.push({ mode, type, oid, path: record.slice(tab + 1) })
  }
  return entries
}

/** Every entry of a tree-ish, recursively. */
export const listTree = (cwd: string, treeish: string, env?: Readonly<Record<string, string>>): Effect.Effect<Array<TreeEntry>, GitFailed, Git> =>
  Effect.flatMap(Git, (git) =>
    git.run(cwd, ["ls-tree", "-r", "-z", "--full-tree", treeish], { maxOutputBytes: 1 << 30, ...(env === undefined ? {} : { env }) })
  ).pipe(Effect.map((result) => parseTreeEntries(result.stdout)))

/** NUL-separated names (`ls-files -z`, `diff --name-only -z`). */
export const parseNames = (output: Buffer): Array<string> => output.toString("utf8").split("\0").filter((name) => name !== "")

/** Input for `update-index -z --stdin`. */
export const nulList = (paths: ReadonlyArray<string>): Buffer => Buffer.from(paths.map((p) => `${p}\0`).join(""))

/**
 * Parsers for git's NUL-separated (`-z`) outputs. Paths are taken verbatim between NULs, never
 * from quoted text, so a file name with a newline, a quote or a tab survives as it is.
 */

/** The entries of `git ls-tree -r -z`: `<mode> SP <type> SP <oid> TAB <path> NUL`. */
export interface TreeEntry {
  readonly mode: string
  readonly type: string
  readonly oid: string
  readonly path: string
}

const records = (output: Buffer | string): Array<string> => {
  const text = typeof output === "string" ? output : output.toString("utf8")
  const parts = text.split("\0")
  if (parts.at(-1) === "") parts.pop()
  return parts
}

export const parseLsTree = (output: Buffer): Array<TreeEntry> =>
  records(output).map((record) => {
    const tab = record.indexOf("\t")
    const [mode = "", type = "", oid = ""] = record.slice(0, tab).split(" ")
    return { mode, type, oid, path: record.slice(tab + 1) }
  })

/** NUL-separated names (`git ls-files -z`, `git status -z` stripped of its status columns by the caller). */
export const parseNames = (output: Buffer): Array<string> => records(output)

/** One entry of `git diff --raw -z --no-abbrev`. `from` is set for renames and copies. */
export interface RawChange {
  readonly oldMode: string
  readonly newMode: string
  readonly oldOid: string
  readonly newOid: string
  /** The letter: A, D, M, T (type change), R (rename), C (copy). */
  readonly status: string
  readonly path: string
  readonly from?: string
}

/** `:<old mode> <new mode> <old oid> <new oid> <status>[score] NUL <path> NUL [<path2> NUL]`. */
export const parseRawDiff = (output: Buffer): Array<RawChange> => {
  const parts = records(output)
  const changes: Array<RawChange> = []
  for (let i = 0; i < parts.length; i++) {
    const [oldMode = "", newMode = "", oldOid = "", newOid = "", score = ""] = parts[i]!.replace(/^:/, "").split(" ")
    const status = score.slice(0, 1)
    if (status === "R" || status === "C") {
      changes.push({ oldMode, newMode, oldOid, newOid, status, from: parts[i + 1] ?? "", path: parts[i + 2] ?? "" })
      i += 2
    } else {
      changes.push({ oldMode, newMode, oldOid, newOid, status, path: parts[i + 1] ?? "" })
      i += 1
    }
  }
  return changes
}

/** The paths of `git apply --numstat -z`: `<added> TAB <deleted> TAB <path> NUL` (one name per patch, the new one). */
export const parseNumstatPaths = (output: Buffer): Array<string> =>
  records(output).map((record) => record.split("\t").slice(2).join("\t"))

// `git apply` names a failing path in one of these shapes (git 2.39); a line is only trusted when
// the captured name is one the patch touches, so a name containing ": " cannot mislead it.
const APPLY_ERRORS: ReadonlyArray<RegExp> = [
  /^error: patch failed: (.+):\d+$/,
  /^error: affected file '(.+)' is beyond a symbolic link$/,
  /^error: invalid path '(.+)'$/,
  /^error: (.+): (?:patch does not apply|does not exist in index|already exists in index|does not match index|already exists in working directory|does not exist|wrong type|No such file or directory)$/
]

/** The touched paths `git apply` reported as failing, or every touched path when none is recognised. */
export const failingPaths = (stderr: string, touched: ReadonlyArray<string>): Array<string> => {
  const known = new Set(touched)
  const found = new Set<string>()
  for (const line of stderr.split("\n")) {
    for (const pattern of APPLY_ERRORS) {
      const name = pattern.exec(line)?.[1]
      if (name !== undefined && known.has(name)) found.add(name)
    }
  }
  return found.size === 0 ? [...known].sort() : [...found].sort()
}

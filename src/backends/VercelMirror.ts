/**
 * Moving a workspace into a sandbox VM and its changes back out. In: regular files only
 * (never through a symlink), `.git`, `node_modules` and `.warrant` left behind, in bounded
 * batches, each file's hash recorded. Out: the VM's listing — untrusted, since the session
 * could have replaced `find` itself — is parsed strictly; a new or changed file is written
 * back, a staged file that is gone is deleted, and every path is refused unless it is a
 * plain relative path that stays inside the workspace without passing through a symlink.
 * The decisions are pure; the filesystem effects are at the bottom.
 */
import { createHash } from "node:crypto"
import { constants } from "node:fs"
import { lstat, mkdir, open, readdir, realpath, rmdir, unlink } from "node:fs/promises"
import { join, posix } from "node:path"
import { Either } from "effect"
import { parseWorkspaceRelativePath } from "../workspace/Paths.js"

/** Never staged and never touched by mirror-back, at every depth (compared case-insensitively). */
export const SKIPPED_DIRS: ReadonlyArray<string> = [".git", "node_modules", ".warrant"]

const skipped = (segment: string) => SKIPPED_DIRS.includes(segment.toLowerCase())

/** Only permission bits are staged: no setuid, setgid or sticky bit. */
export const PERMISSION_BITS = 0o777

/**
 * Whether a mode is executable by its owner — the one bit mirrored back, as git keeps it:
 * the rest of a VM file's mode depends on the VM's umask and would show as a change.
 */
export const executable = (mode: number): boolean => (mode & 0o100) !== 0

export const sha256 = (content: Uint8Array): string => createHash("sha256").update(content).digest("hex")

// ---------------------------------------------------------------------------------------------
// Staging (pure parts)
// ---------------------------------------------------------------------------------------------

export interface LocalFile {
  /** Relative, `/`-separated. */
  readonly path: string
  readonly size: number
  readonly mode: number
}

export interface BatchLimits {
  readonly maxFiles: number
  readonly maxBytes: number
}

/** At most this much per write call: one request body, one tarball in memory. */
export const DEFAULT_BATCH: BatchLimits = { maxFiles: 200, maxBytes: 16 * 1024 * 1024 }

/** Consecutive batches within both limits; a file larger than `maxBytes` travels alone. */
export const batches = <A extends { readonly size: number }>(files: ReadonlyArray<A>, limits: BatchLimits): ReadonlyArray<ReadonlyArray<A>> => {
  const out: Array<Array<A>> = []
  let current: Array<A> = []
  let bytes = 0
  for (const file of files) {
    if (current.length > 0 && (current.length >= limits.maxFiles || bytes + file.size > limits.maxBytes)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(file)
    bytes += file.size
  }
  if (current.length > 0) out.push(current)
  return out
}

/** Where a workspace path lives in the VM. */
export const vmPath = (workdir: string, path: string): string => (workdir === "/" ? `/${path}` : `${workdir}/${path}`)

/** The VM directory the workspace is staged into: absolute, without `..`, normalised. */
export const checkWorkdir = (workdir: string): Either.Either<string, string> => {
  if (!workdir.startsWith("/") || workdir.includes("\0") || workdir.includes("\\")) {
    return Either.left(`the sandbox workdir ${JSON.stringify(workdir)} must be an absolute VM path`)
  }
  if (workdir.split("/").some((segment) => segment === ".." || segment === ".")) {
    return Either.left(`the sandbox workdir ${JSON.stringify(workdir)} must not contain '.' or '..'`)
  }
  return Either.right(posix.normalize(workdir).replace(/\/+$/, "") || "/")
}

// ---------------------------------------------------------------------------------------------
// The VM's listing (pure)
// ---------------------------------------------------------------------------------------------

export type EntryKind = "file" | "symlink" | "other"

export interface ListedEntry {
  /** As the VM reported it; checked by `checkRemotePath` before it is used. */
  readonly path: string
  readonly kind: EntryKind
  readonly mode: number
  /** For a regular file. */
  readonly sha256: string | undefined
}

const kindCodes: Readonly<Record<string, EntryKind>> = { f: "file", l: "symlink", o: "other" }
const codeOf: Readonly<Record<EntryKind, string>> = { file: "f", symlink: "l", other: "o" }

/**
 * What the VM runs (`sh -c LISTING_SCRIPT sh <workdir>`) to list the workdir: four
 * NUL-terminated fields per entry — kind (f, l or o), octal mode, SHA-256 (`-` unless a
 * file) and the path relative to the workdir — skipping the directories that are never
 * mirrored. The hash is read from stdin, so no file name is ever escaped by `sha256sum`. A
 * workdir that does not exist lists as empty: nothing was staged, or the session removed it.
 */
export const LISTING_SCRIPT = [
  `[ -e "$1" ] || exit 0; cd -- "$1" || exit 1;`,
  "find . -mindepth 1",
  `\\( ${SKIPPED_DIRS.map((name) => `-name ${name}`).join(" -o ")} \\) -prune`,
  `-o -type f -exec sh -c 'for f do h=$(sha256sum < "$f") || exit 1; m=$(stat -c %a -- "$f") || exit 1; printf "f\\0%s\\0%s\\0%s\\0" "$m" "\${h%% *}" "\${f#./}"; done' sh {} +`,
  `-o -type l -printf 'l\\0%m\\0-\\0%P\\0'`,
  `-o ! -type d -printf 'o\\0%m\\0-\\0%P\\0'`
].join(" ")

/** The listing format `LISTING_SCRIPT` prints, for a test double of the VM. */
export const formatListing = (entries: ReadonlyArray<ListedEntry>): string =>
  entries.map((e) => `${codeOf[e.kind]}\0${e.mode.toString(8)}\0${e.sha256 ?? "-"}\0${e.path}\0`).join("")

/**
 * The entries, or why the listing cannot be trusted at all (then nothing is mirrored).
 * Structure is checked strictly; paths are checked one by one later, so one hostile
 * name is refused without losing the rest of the session's output.
 */
export const parseListing = (text: string): Either.Either<ReadonlyArray<ListedEntry>, string> => {
  if (text === "") return Either.right([])
  const malformed = (why: string) => Either.left(`the sandbox's file listing is malformed: ${why}`)
  if (!text.endsWith("\0")) return malformed("it does not end with a NUL")
  const fields = text.slice(0, -1).split("\0")
  if (fields.length % 4 !== 0) return malformed("its fields do not come in fours")
  const entries: Array<ListedEntry> = []
  const seen = new Set<string>()
  for (let i = 0; i < fields.length; i += 4) {
    const [code, mode, hash, path] = fields.slice(i, i + 4) as [string, string, string, string]
    const kind = kindCodes[code]
    if (kind === undefined) return malformed(`entry ${i / 4} has the unknown kind ${JSON.stringify(code.slice(0, 8))}`)
    if (!/^[0-7]{1,4}$/.test(mode)) return malformed(`entry ${i / 4} has an unreadable mode`)
    const fileHash = /^[0-9a-f]{64}$/.test(hash)
    if (kind === "file" ? !fileHash : hash !== "-") return malformed(`entry ${i / 4} has an unreadable hash`)
    if (seen.has(path)) return malformed(`a path is listed twice`)
    seen.add(path)
    entries.push({ path, kind, mode: parseInt(mode, 8), sha256: kind === "file" ? hash : undefined })
  }
  return Either.right(entries)
}

/** Why a path from the VM cannot be used locally, or undefined when it is a plain path inside the workspace. */
export const checkRemotePath = (path: string): string | undefined => {
  // The workspace's own decision first (absolute, `..`, NUL, backslash, empty segments)…
  const parsed = parseWorkspaceRelativePath(path)
  if (Either.isLeft(parsed)) return `a path refused because ${parsed.left.reason}`
  // …then what only the VM's listing needs: a mirrored path is exactly as listed.
  if (path.includes("\uFFFD")) return "a path that is not valid UTF-8"
  const segments = path.split("/")
  if (segments.some((segment) => segment === "." || segment === "")) return "a path with a '.' or empty segment"
  const inside = segments.find(skipped)
  if (inside !== undefined) return `a path inside ${inside}, which is never mirrored back`
  return undefined
}

export interface StagedFile {
  readonly sha256: string
  readonly executable: boolean
}

export interface Refusal {
  readonly path: string
  readonly reason: string
}

export interface MirrorPlan {
  /** New or changed regular files, with the mode to give them. */
  readonly writes: ReadonlyArray<{ readonly path: string; readonly executable: boolean }>
  /** Staged files that are no longer anywhere in the VM's listing. */
  readonly removals: ReadonlyArray<string>
  readonly refusals: ReadonlyArray<Refusal>
}

/**
 * What to change locally. A symlink in the VM is never followed or recreated: it is
 * refused, and a staged file at its path is left alone (not deleted), as is one whose
 * path now holds a FIFO or a socket — only a path absent from the listing is a deletion.
 */
export const planMirror = (staged: ReadonlyMap<string, StagedFile>, listing: ReadonlyArray<ListedEntry>): MirrorPlan => {
  const writes: Array<{ path: string; executable: boolean }> = []
  const refusals: Array<Refusal> = []
  const present = new Set<string>()
  for (const entry of listing) {
    const problem = checkRemotePath(entry.path)
    if (problem !== undefined) {
      refusals.push({ path: entry.path, reason: problem })
      continue
    }
    present.add(entry.path)
    if (entry.kind === "symlink") {
      refusals.push({ path: entry.path, reason: "a symbolic link in the sandbox, which is never followed or recreated" })
      continue
    }
    if (entry.kind === "other") {
      refusals.push({ path: entry.path, reason: "not a regular file in the sandbox" })
      continue
    }
    const before = staged.get(entry.path)
    const isExecutable = executable(entry.mode)
    if (before === undefined || before.sha256 !== entry.sha256 || before.executable !== isExecutable) {
      writes.push({ path: entry.path, executable: isExecutable })
    }
  }
  const removals = [...staged.keys()].filter((path) => !present.has(path))
  return { writes, removals, refusals }
}

/** One line of the session log for a refused path; the log is redacted afterwards. */
export const refusalLine = ({ path, reason }: Refusal): string =>
  `warrant: not mirrored back ${JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path)}: ${reason}\n`

// ---------------------------------------------------------------------------------------------
// Filesystem effects
// ---------------------------------------------------------------------------------------------

const codeOfError = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code

const lstatOrUndefined = (path: string) =>
  lstat(path).catch((error: unknown) => {
    if (codeOfError(error) === "ENOENT") return undefined
    throw error
  })

/**
 * The workspace's regular files, sorted, the skipped directories left out. Directory
 * entries are read without following links, so a symlink — to a file or a directory,
 * inside the workspace or out — is never staged.
 */
export const listWorkspace = async (root: string): Promise<{ readonly files: ReadonlyArray<LocalFile>; readonly links: ReadonlyArray<string> }> => {
  const files: Array<LocalFile> = []
  const links: Array<string> = []
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(root, relative), { withFileTypes: true })
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`
      if (entry.isSymbolicLink()) links.push(path)
      else if (entry.isDirectory()) {
        if (!skipped(entry.name)) await walk(path)
      } else if (entry.isFile()) {
        const info = await lstat(join(root, path))
        files.push({ path, size: info.size, mode: info.mode & PERMISSION_BITS })
      }
    }
  }
  await walk("")
  return { files, links }
}

/** A staged file's bytes, refusing one that became a symlink since the walk. */
export const readStaged = async (root: string, path: string): Promise<Uint8Array> => {
  const handle = await open(join(root, path), constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    return await handle.readFile()
  } finally {
    await handle.close()
  }
}

/**
 * The local directory that holds `path`, walked one segment at a time from the real
 * workspace root: a symlink or a non-directory on the way is a refusal (a string); a
 * missing directory is created when `create`, otherwise undefined means "already gone".
 */
const parentOf = async (root: string, path: string, create: boolean): Promise<{ readonly dir: string } | string | undefined> => {
  const segments = path.split("/").slice(0, -1)
  let dir = root
  for (const segment of segments) {
    dir = join(dir, segment)
    const info = await lstatOrUndefined(dir)
    if (info === undefined) {
      if (!create) return undefined
      // EEXIST: a concurrent write made it first; the check below still applies to it.
      await mkdir(dir).catch((error: unknown) => {
        if (codeOfError(error) !== "EEXIST") throw error
      })
      const made = await lstat(dir)
      if (made.isSymbolicLink() || !made.isDirectory()) return "a local parent directory is not a plain directory"
      continue
    }
    if (info.isSymbolicLink()) return "a local parent directory is a symbolic link"
    if (!info.isDirectory()) return "a local parent is not a directory"
  }
  return { dir }
}

/** An existing file's mode with its execute bits matching the VM's: set where it is readable, or cleared. */
export const withExecutable = (mode: number, isExecutable: boolean): number =>
  isExecutable ? mode | ((mode & 0o444) >> 2) : mode & ~0o111

/**
 * Writes a mirrored file inside `root`; a refusal is returned, an I/O failure thrown. A new
 * file is created 0644 or 0755 (less the umask); an existing one keeps its mode but for
 * the execute bits.
 */
export const writeInside = async (root: string, path: string, content: Uint8Array, isExecutable: boolean): Promise<string | undefined> => {
  const problem = checkRemotePath(path)
  if (problem !== undefined) return problem
  const parent = await parentOf(root, path, true)
  if (parent === undefined || typeof parent === "string") return parent ?? "the local parent directory is missing"
  const target = join(parent.dir, posix.basename(path))
  const info = await lstatOrUndefined(target)
  if (info !== undefined && info.isSymbolicLink()) return "the local file is a symbolic link"
  if (info !== undefined && !info.isFile()) return "the local path is not a regular file"
  // O_NOFOLLOW: should a link appear after the check, the open fails instead of writing through it.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW
  const handle = await open(target, flags, isExecutable ? 0o755 : 0o644)
  try {
    await handle.writeFile(content)
    if (info !== undefined) await handle.chmod(withExecutable(info.mode & PERMISSION_BITS, isExecutable))
  } finally {
    await handle.close()
  }
  return undefined
}

/**
 * Deletes a staged file the VM no longer has, then the directories it leaves empty (up
 * to the root). Only a regular file is unlinked; anything else there is a refusal.
 */
export const removeInside = async (root: string, path: string): Promise<string | undefined> => {
  const problem = checkRemotePath(path)
  if (problem !== undefined) return problem
  const parent = await parentOf(root, path, false)
  if (parent === undefined) return undefined
  if (typeof parent === "string") return parent
  const target = join(parent.dir, posix.basename(path))
  const info = await lstatOrUndefined(target)
  if (info === undefined) return undefined
  if (!info.isFile()) return "the local path is no longer a regular file"
  await unlink(target)
  let dir = parent.dir
  while (dir !== root) {
    const removed = await rmdir(dir).then(() => true, () => false)
    if (!removed) break
    dir = join(dir, "..")
  }
  return undefined
}

/** The workspace root with its own symlinks resolved, so every later lstat walk starts from a real directory. */
export const realRoot = (workspace: string): Promise<string> => realpath(workspace)

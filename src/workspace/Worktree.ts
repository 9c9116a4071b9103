/**
 * What is at a workspace-relative path, judged with lstat only: a symlink is never followed,
 * neither as the final segment (it is reported with its target, git's view of a link) nor on
 * the way (a path under a symlinked directory is absent, as it is for git).
 */
import { constants } from "node:fs"
import { lstat, open, readlink } from "node:fs/promises"
import { join } from "node:path"

export type Entry =
  | { readonly kind: "file"; readonly executable: boolean; readonly size: number }
  | { readonly kind: "symlink"; readonly target: Buffer }
  | { readonly kind: "absent" }
  /** A directory, fifo, socket or device: nothing git can carry as a file. */
  | { readonly kind: "other"; readonly what: string }

const missing = (error: unknown): boolean => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code === "ENOENT" || code === "ENOTDIR"
}

const lstatOrUndefined = (path: string) =>
  lstat(path).catch((error: unknown) => {
    if (missing(error)) return undefined
    throw error
  })

/** A reader for one root that remembers which parent directories are real directories. */
export const makeReader = (root: string) => {
  const realDirectory = new Map<string, Promise<boolean>>()
  const isRealDirectory = (relative: string): Promise<boolean> => {
    if (relative === "") return Promise.resolve(true)
    let known = realDirectory.get(relative)
    if (known === undefined) {
      const parent = relative.includes("/") ? relative.slice(0, relative.lastIndexOf("/")) : ""
      known = isRealDirectory(parent).then(async (parentOk) => {
        if (!parentOk) return false
        const info = await lstatOrUndefined(join(root, relative))
        return info !== undefined && info.isDirectory()
      })
      realDirectory.set(relative, known)
    }
    return known
  }

  return async (path: string): Promise<Entry> => {
    const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ""
    if (!(await isRealDirectory(parent))) return { kind: "absent" }
    const absolute = join(root, path)
    const info = await lstatOrUndefined(absolute)
    if (info === undefined) return { kind: "absent" }
    // git records only the owner's execute bit (0755 or 0644).
    if (info.isFile()) return { kind: "file", executable: (info.mode & 0o100) !== 0, size: info.size }
    if (info.isSymbolicLink()) return { kind: "symlink", target: await readlink(absolute, { encoding: "buffer" }) }
    return { kind: "other", what: info.isDirectory() ? "a directory" : "not a regular file or symlink" }
  }
}

/** A regular file's bytes, refusing to follow a symlink put in its place. */
export const readFileNoFollow = async (absolute: string): Promise<Buffer> => {
  const handle = await open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    return await handle.readFile()
  } finally {
    await handle.close()
  }
}

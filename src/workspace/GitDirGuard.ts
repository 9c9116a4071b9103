/**
 * Before git reads a tree a session controlled, its `.git` must be a plain repository of its
 * own: a real directory (not a symlink, not a `gitdir:` file), no `commondir`, no alternates
 * (each would make git read or write another repository on the runner), and nothing but
 * regular files and directories inside (a FIFO would hang every git command on open).
 */
import { lstat, readdir } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"

/** Files whose mere presence points git at objects or refs outside this `.git`. */
const REDIRECTS = ["commondir", "gitdir", "objects/info/alternates", "objects/info/http-alternates"]

const kindOf = (info: Awaited<ReturnType<typeof lstat>>): string | undefined => {
  if (info.isFile() || info.isDirectory()) return undefined
  if (info.isSymbolicLink()) return "a symlink"
  if (info.isFIFO()) return "a FIFO"
  if (info.isSocket()) return "a socket"
  return "a device"
}

/** Why the `.git` of `root` cannot be trusted to stay inside it, or undefined. */
export const gitDirProblem = (root: string): Effect.Effect<string | undefined> =>
  Effect.promise(() => inspect(root).catch((error: unknown) => `its .git could not be read: ${error instanceof Error ? error.message : String(error)}`))

const inspect = async (root: string): Promise<string | undefined> => {
    const gitDir = join(root, ".git")
    const top = await lstat(gitDir).catch(() => undefined)
    // No .git here: whether it is a repository at all is for the repository check to say.
    if (top === undefined) return undefined
    if (!top.isDirectory()) return `its .git is ${top.isSymbolicLink() ? "a symlink" : "not a directory"} (it could lead to another repository)`
    for (const redirect of REDIRECTS) {
      if (await lstat(join(gitDir, redirect)).then(() => true, () => false)) {
        return `its .git has ${redirect}, which would make git use another repository's objects or refs`
      }
    }
    const stack = [gitDir]
    while (stack.length > 0) {
      const dir = stack.pop()!
      for (const name of await readdir(dir)) {
        const path = join(dir, name)
        const info = await lstat(path)
        const odd = kindOf(info)
        if (odd !== undefined) return `its .git holds ${odd} at ${path.slice(root.length + 1)}`
        if (info.isDirectory()) stack.push(path)
      }
    }
    return undefined
}

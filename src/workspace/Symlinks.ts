/**
 * Whether a symlink in a tree leads outside it. Unlike `resolveInsideWorkspace` (which judges a
 * path about to be written and refuses a dangling link) this judges a link that is kept as a
 * link: a dangling target inside the tree is allowed (a link to an ignored build output is
 * common), an absolute target is refused (it cannot mean the same thing once the tree is
 * materialised elsewhere), and each link on the way is followed as the kernel would.
 */
import { lstat, readlink, realpath } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { isWithin } from "./Paths.js"

const MAX_HOPS = 40

/** Why the symlink at the workspace-relative `path` leads outside `root`; undefined when it stays inside. */
export const symlinkEscape = (root: string, path: string): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    const realRoot = await realpath(root)
    const pending = path.split("/")
    let current = realRoot
    let hops = 0
    while (pending.length > 0) {
      const segment = pending.shift()!
      if (segment === "" || segment === ".") continue
      if (segment === "..") {
        current = dirname(current)
        if (!isWithin(realRoot, current)) return "it leads outside the tree"
        continue
      }
      const next = join(current, segment)
      const info = await lstat(next).catch(() => undefined)
      if (info?.isSymbolicLink() === true) {
        if (++hops > MAX_HOPS) return "it is part of a symlink loop"
        const target = await readlink(next)
        if (target.startsWith("/")) return `its target ${JSON.stringify(target)} is absolute`
        pending.unshift(...target.split("/"))
        continue
      }
      // A missing segment cannot be a link, so the rest of the way is decided by its text.
      current = next
    }
    return isWithin(realRoot, current) ? undefined : "it leads outside the tree"
  })

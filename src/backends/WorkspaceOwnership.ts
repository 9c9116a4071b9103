/**
 * Lending a workspace to a sandbox uid: a root runner drops to an unprivileged uid (the kernel
 * does not cap real root's process count), so for the session the workspace is handed to that
 * uid, and afterwards every entry gets its owner back (new entries go to the workspace's
 * owner) — a later `git` run by the runner must not find a tree owned by someone else.
 * Symlinks are never followed: a link the sandbox planted cannot redirect a chown. Owners are
 * remembered per inode, not per path: a hard link the sandbox made to a file it was lent
 * still gets that file's own owner back.
 */
import { lstat, lchown, readdir } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Data, Effect, type Scope } from "effect"

export class OwnershipFailed extends Data.TaggedError("OwnershipFailed")<{ readonly message: string }> {}

interface Owner {
  readonly uid: number
  readonly gid: number
}

/** Keyed by `device:inode`. */
type Owners = Map<string, Owner>

const inodeKey = (info: { readonly dev: number; readonly ino: number }) => `${info.dev}:${info.ino}`

/** Every entry under `root` (root included), depth first, never through a symlink. */
const walk = async (root: string, visit: (path: string, key: string, owner: Owner) => Promise<void>) => {
  const stack = [root]
  while (stack.length > 0) {
    const path = stack.pop()!
    let info
    try {
      info = await lstat(path)
    } catch {
      continue // removed while walking: nothing to own
    }
    await visit(path, inodeKey(info), { uid: info.uid, gid: info.gid })
    if (!info.isDirectory()) continue
    const names = await readdir(path).catch(() => [])
    for (const name of names) stack.push(join(path, name))
  }
}

/** On a failure part way, what was already handed over is given back before reporting. */
const lend = async (root: string, to: Owner): Promise<Owners> => {
  const owners: Owners = new Map()
  try {
    await walk(root, async (path, key, owner) => {
      // A second link to an inode already lent keeps the owner seen first.
      if (!owners.has(key)) owners.set(key, owner)
      await lchown(path, to.uid, to.gid)
    })
  } catch (error) {
    await restore(root, owners, undefined)
    throw error
  }
  return owners
}

/** Recorded inodes get their owner back; others go to `newOwner`, or are left alone without one. */
const restore = async (root: string, owners: Owners, newOwner: Owner | undefined): Promise<void> => {
  await walk(root, async (path, key) => {
    const owner = owners.get(key) ?? newOwner
    if (owner !== undefined) await lchown(path, owner.uid, owner.gid).catch(() => {})
  })
}

/** Why `uid` cannot reach `path`: some ancestor is not searchable by others. */
export const unreachableAncestor = (path: string): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      const info = await lstat(dir).catch(() => undefined)
      if (info !== undefined && (info.mode & 0o001) === 0) return dir
      if (dir === dirname(dir)) return undefined
    }
  })

/**
 * Hands the tree to `to` for the scope; on close (the sandbox is gone by then) the owners
 * recorded before are put back. A failure to lend is reported; restoring is best effort per
 * entry, so one stubborn file cannot leave the rest lent.
 */
export const lendWorkspace = (root: string, to: Owner): Effect.Effect<void, OwnershipFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const info = await lstat(root)
        const rootOwner = { uid: info.uid, gid: info.gid }
        return { owners: await lend(root, to), rootOwner }
      },
      catch: (error) => new OwnershipFailed({ message: `the workspace could not be handed to uid ${to.uid}: ${error instanceof Error ? error.message : String(error)}` })
    }),
    ({ owners, rootOwner }) => Effect.promise(() => restore(root, owners, rootOwner))
  ).pipe(Effect.asVoid)

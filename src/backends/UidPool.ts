/**
 * Unprivileged uids lent to concurrent sessions, one each — across every runner process on
 * the host, not just this one. The kernel counts RLIMIT_NPROC per uid at every user-namespace
 * level up to the host, so two sessions sharing a uid would share one process budget: a fork
 * bomb in one could starve the other. A uid is claimed by creating a lock file named after it
 * (exclusive create) holding the claimant's pid; a lock whose process is gone is taken over.
 * (Two runners taking over the same stale lock in the same instant could both win; the cost
 * is a shared process budget for those two sessions, never a weaker sandbox.)
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"

export interface UidRange {
  readonly first: number
  readonly count: number
}

/**
 * High and unnamed by default (above the usual system, user and container-subuid ranges).
 * Runners on one host share the range safely through the lock directory.
 */
export const DEFAULT_UID_RANGE: UidRange = { first: 2_100_000_000, count: 4_096 }

/** Where the claims live; private to the runner's user. */
export const DEFAULT_LOCK_DIRECTORY = join(tmpdir(), "warrant-sandbox-uids")

export interface UidPool {
  /** A free uid for the scope, or undefined when every uid in the range is lent. */
  readonly lend: Effect.Effect<number | undefined, never, Scope.Scope>
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Claims `uid` through its lock file; false when a live process holds it. */
const claim = (directory: string, uid: number): boolean => {
  const path = join(directory, String(uid))
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: "wx", mode: 0o600 })
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") return false
    }
    let holder: number
    try {
      holder = Number(readFileSync(path, "utf8"))
    } catch {
      continue // released meanwhile: try again
    }
    if (Number.isInteger(holder) && holder > 0 && alive(holder)) return false
    try {
      unlinkSync(path) // a runner that died holding it
    } catch {
      // another runner took it over first
    }
  }
  return false
}

export const makeUidPool = (range: UidRange, directory: string = DEFAULT_LOCK_DIRECTORY): UidPool => {
  const lent = new Set<number>()
  return {
    lend: Effect.acquireRelease(
      Effect.sync(() => {
        try {
          mkdirSync(directory, { recursive: true, mode: 0o700 })
        } catch {
          return undefined
        }
        for (let uid = range.first; uid < range.first + range.count; uid++) {
          if (lent.has(uid) || !claim(directory, uid)) continue
          lent.add(uid)
          return uid
        }
        return undefined
      }),
      (uid) =>
        Effect.sync(() => {
          if (uid === undefined) return
          lent.delete(uid)
          try {
            unlinkSync(join(directory, String(uid)))
          } catch {
            // already gone
          }
        })
    )
  }
}

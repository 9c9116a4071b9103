/**
 * Unprivileged uids lent to concurrent sessions, one each. The kernel counts RLIMIT_NPROC per
 * uid at every user-namespace level up to the host, so two sessions sharing a uid would share
 * one process budget: a fork bomb in one could starve the other.
 */
import { Effect, type Scope } from "effect"

export interface UidRange {
  readonly first: number
  readonly count: number
}

/**
 * High and unnamed by default (above the usual system, user and container-subuid ranges); a
 * host running several runners gives each its own range.
 */
export const DEFAULT_UID_RANGE: UidRange = { first: 2_100_000_000, count: 4_096 }

export interface UidPool {
  /** A free uid for the scope, or undefined when every uid in the range is lent. */
  readonly lend: Effect.Effect<number | undefined, never, Scope.Scope>
}

export const makeUidPool = (range: UidRange): UidPool => {
  const lent = new Set<number>()
  return {
    lend: Effect.acquireRelease(
      Effect.sync(() => {
        for (let uid = range.first; uid < range.first + range.count; uid++) {
          if (!lent.has(uid)) {
            lent.add(uid)
            return uid
          }
        }
        return undefined
      }),
      (uid) => Effect.sync(() => void (uid !== undefined && lent.delete(uid)))
    )
  }
}

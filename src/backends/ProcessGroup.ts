/**
 * Stopping a session's process group: SIGTERM to the whole group, a grace period, then
 * SIGKILL — and waiting until no member is still running, so a session that returns leaves
 * nothing behind in its group.
 */
import { readdirSync, readFileSync } from "node:fs"
import { Clock, Duration, Effect } from "effect"

/** Signals every member of the group; false when the group is gone (or not ours to signal). */
export const signalGroup = (pgid: number, signal: NodeJS.Signals | 0): boolean => {
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    return false
  }
}

/**
 * Whether some member of the group is on /proc and not a zombie; undefined where /proc
 * cannot be read. A killed member that was reparented stays a zombie until its new parent
 * reaps it — on some hosts PID 1 only does so every few seconds — yet it is already dead.
 */
const runningMemberOnProc = (pgid: number): boolean | undefined => {
  let entries: Array<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    return undefined
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "latin1")
    } catch {
      continue
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const state = fields[0]
    if (Number(fields[2]) === pgid && state !== "Z" && state !== "X") return true
  }
  return false
}

/** Whether any member of the group is still running (zombies do not count). */
export const groupRunning = (pgid: number): boolean => signalGroup(pgid, 0) && (runningMemberOnProc(pgid) ?? true)

const POLL = Duration.millis(10)

/** Waits up to `ms` for the group to stop running; true if it did. */
const waitStopped = (pgid: number, ms: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + ms
    while (groupRunning(pgid)) {
      if ((yield* Clock.currentTimeMillis) >= deadline) return false
      yield* Effect.sleep(POLL)
    }
    return true
  })

export interface TerminateOptions {
  /** How long the group has to exit after SIGTERM before SIGKILL. */
  readonly graceMs: number
  /** How long to wait after SIGKILL (a process in uninterruptible sleep can outlast it). */
  readonly killWaitMs: number
}

/** SIGTERM (and SIGCONT, so stopped members can act on it), the grace, then SIGKILL. */
export const terminateGroup = (pgid: number, options: TerminateOptions): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (!signalGroup(pgid, "SIGTERM")) return
    signalGroup(pgid, "SIGCONT")
    if (yield* waitStopped(pgid, options.graceMs)) return
    signalGroup(pgid, "SIGKILL")
    yield* waitStopped(pgid, options.killWaitMs)
  })

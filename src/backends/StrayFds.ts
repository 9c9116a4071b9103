/**
 * Descriptors this process inherited without close-on-exec (from whatever started the runner)
 * pass into every child — and through bubblewrap into a sandbox, where a directory descriptor
 * is a way out of its mount namespace. Node cannot clear the flag, so each spawn covers them:
 * the child's copy of every such descriptor is replaced by `/dev/null`.
 */
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs"

const O_CLOEXEC = 0o2000000

/** Descriptors 3 and up that a child would inherit; empty where /proc cannot be read. */
export const strayFds = (): ReadonlyArray<number> => {
  let entries: Array<string>
  try {
    entries = readdirSync("/proc/self/fd")
  } catch {
    return []
  }
  const stray: Array<number> = []
  for (const entry of entries) {
    const fd = Number(entry)
    if (!Number.isInteger(fd) || fd < 3) continue
    let info: string
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, "latin1")
    } catch {
      continue // closed meanwhile (the directory listing's own descriptor among them)
    }
    const flags = /^flags:\s*([0-7]+)/m.exec(info)
    if (flags !== null && (parseInt(flags[1]!, 8) & O_CLOEXEC) === 0) stray.push(fd)
  }
  return stray.sort((a, b) => a - b)
}

export type StdioEntry = "ignore" | "pipe" | number

/**
 * The stdio array for `spawn`: the given entries, then `/dev/null` over every stray descriptor
 * beyond them. The returned `release` closes the `/dev/null` descriptor once the child exists.
 */
export const coverStrayFds = (
  given: ReadonlyArray<StdioEntry>
): { readonly stdio: Array<StdioEntry>; readonly release: () => void } => {
  const stray = strayFds().filter((fd) => fd >= given.length)
  if (stray.length === 0) return { stdio: [...given], release: () => {} }
  const devNull = openSync("/dev/null", "r")
  const stdio: Array<StdioEntry> = [...given]
  const last = stray[stray.length - 1]!
  // Indices between are "ignore": libuv leaves a descriptor it was told to ignore untouched,
  // and those are either closed or close-on-exec already.
  for (let fd = given.length; fd <= last; fd++) stdio.push(stray.includes(fd) ? devNull : "ignore")
  return { stdio, release: () => closeSync(devNull) }
}

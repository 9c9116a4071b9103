/**
 * Shared pieces of the namespace-tier tests: a tier over a real egress proxy, sessions in a
 * fresh workspace, FIFOs to hold a session at a known point, and host-side /proc checks for
 * what a session's uid still runs.
 */
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import type { PreparedCommand, PreparedExecution } from "../../../src/backends/Execution.js"
import * as Namespace from "../../../src/backends/Namespace.js"
import type { ReleasedSecret, SessionBackend } from "../../../src/backends/SessionBackend.js"
import * as EgressProxy from "../../../src/egress/EgressProxy.js"
import * as Resolver from "../../../src/egress/Resolver.js"
import { execution, tempDir } from "./Sessions.js"

/** The egress proxy over a resolver that knows no name. */
export const proxyLayer = EgressProxy.layer.pipe(Layer.provide(Resolver.layerStatic({})))

/**
 * The tier, built once outside every test's scope (the proxy layer captures the context it is
 * built in). Each test file passes its own uid range: vitest runs files in parallel workers,
 * each with its own pool, and two pools lending the same uid would share one process budget.
 */
export const namespaceTier = (options: Namespace.NamespaceOptions): SessionBackend =>
  Effect.runSync(Namespace.make(options).pipe(Effect.provide(proxyLayer)))

export const runIn = (
  tier: SessionBackend,
  workspace: string,
  command: PreparedCommand,
  overrides: Partial<PreparedExecution> = {},
  secrets: ReadonlyArray<ReleasedSecret> = []
) => Effect.scoped(tier.run({ execution: execution(command, overrides), workspace, secrets }))

/** A session in a fresh workspace, removed with the caller's scope. */
export const runFresh = (
  tier: SessionBackend,
  command: PreparedCommand,
  overrides: Partial<PreparedExecution> = {},
  secrets: ReadonlyArray<ReleasedSecret> = []
) => Effect.flatMap(tempDir("ns"), (workspace) => runIn(tier, workspace, command, overrides, secrets))

export const guard = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, seconds = 5) =>
  Effect.timeoutFail(effect, {
    duration: `${seconds} seconds`,
    onTimeout: () => new Error(`${what} did not happen within ${seconds} s`)
  })

/** A FIFO at `dir/name`; a session blocks on it until the test opens the other end. */
export const mkfifo = (dir: string, name: string): string => {
  const path = join(dir, name)
  execFileSync("mkfifo", [path])
  return path
}

/** What the session writes into the FIFO (waits for the writer to open and close it). */
export const readFifo = (path: string, what: string) => guard(Effect.promise(() => readFile(path, "utf8")), what)

/** Lets a session blocked reading the FIFO go on. */
export const release = (path: string) => guard(Effect.promise(() => writeFile(path, "go\n")), "the session's release")

/** The fields of /proc/<pid>/status, or undefined when the process is gone. */
const status = (pid: string): Record<string, string> | undefined => {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "latin1")
    return Object.fromEntries(text.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]))
  } catch {
    return undefined
  }
}

/** Host pids running (not zombies) with real uid `uid`. */
export const processesOf = (uid: number): Array<number> =>
  readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).filter((pid) => {
    const fields = status(pid)
    if (fields === undefined) return false
    const state = fields.State ?? ""
    return Number((fields.Uid ?? "").split(/\s+/)[0]) === uid && !state.startsWith("Z") && !state.startsWith("X")
  }).map(Number)

/** A process's argv or initial environment as the host's /proc shows it ("" when gone). */
export const procText = (pid: number, file: "cmdline" | "environ"): string => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "latin1")
  } catch {
    return ""
  }
}

/** The lines of a log, without the trailing empty one. */
export const lines = (log: string) => log.split("\n").filter((line, i, all) => line !== "" || i < all.length - 1)

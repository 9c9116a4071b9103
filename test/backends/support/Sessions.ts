/**
 * Shared pieces of the session tests: prepared executions, env values, released secrets, a
 * scoped workspace on the real disk, and process-liveness checks that read /proc.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Redacted, type Scope } from "effect"
import type { EnvValue, PreparedCommand, PreparedExecution } from "../../../src/backends/Execution.js"
import type { ReleasedSecret } from "../../../src/backends/SessionBackend.js"
import { SecretName } from "../../../src/protocol/Ids.js"

export const sh = (script: string): PreparedCommand => ({ kind: "shell", shell: "sh", script })

export const argv = (...words: readonly [string, ...Array<string>]): PreparedCommand => ({ kind: "argv", argv: words })

/** A `command` agent execution with small limits and no network, changed by `overrides`. */
export const execution = (command: PreparedCommand, overrides: Partial<PreparedExecution> = {}): PreparedExecution => ({
  agent: "command",
  command,
  cwd: ".",
  timeoutMs: 10_000,
  logMaxBytes: 65_536,
  env: {},
  egressProxy: false,
  network: { defaultDeny: true, allowHosts: [] },
  ...overrides
})

/** An env entry the backend fills from the released secret `name` (validated as a secret name). */
export const secretRef = (name: string): EnvValue => ({ _tag: "Secret", secret: SecretName.make(name) })

export const literal = (value: string): EnvValue => ({ _tag: "Literal", value })

export const released = (name: string, value: string): ReleasedSecret => ({ name, value: Redacted.make(value) })

/** A fresh directory under the system temp dir, removed with the scope. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), `warrant-${prefix}-`))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** Gone, or a zombie (a killed orphan waits for PID 1 to reap it; it runs nothing). */
export const dead = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1")
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")
  } catch {
    return true
  }
}

/** Kills, with the scope, a process the session could not reach. */
export const killLater = (pid: number) =>
  Effect.addFinalizer(() =>
    Effect.sync(() => {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    })
  )

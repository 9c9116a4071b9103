/**
 * The process tier: the execution runs as a child process in its own process group, with a
 * scrubbed environment and its traffic pointed at a per-session egress proxy. It enforces
 * command; env, network, read and write it can only attest (a binary can ignore proxy
 * variables, and open every path — `/proc/<runner>/environ` included — the runner's user can). Whatever ends the session — exit,
 * timeout, the log cap, interruption — the whole group is stopped before `run` returns.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Chunk, Effect, ExecutionStrategy, Exit, Fiber, Redacted, Scope, Stream } from "effect"
import type { EgressDecision } from "../egress/EgressDecision.js"
import { EgressProxy } from "../egress/EgressProxy.js"
import { piRefusal } from "./Agents.js"
import type { PreparedExecution } from "./Execution.js"
import { finishLog, makeLogCapture } from "./LogCapture.js"
import { buildEnv, commandLine, envProblem } from "./ProcessEnv.js"
import { workingDirectory } from "./WorkingDirectory.js"
import { runChild } from "./Child.js"
import { makeRedactor } from "./Redaction.js"
import { type Capability, type Readiness, type SessionBackend, SessionFailed, type SessionRequest } from "./SessionBackend.js"

export const tier = "process" as const

/**
 * env is attested, not enforced: the child gets a scrubbed environment, but it runs as the
 * runner's user and can read `/proc/<runner>/environ` — and a concurrent session's — there.
 */
export const capability: Capability = {
  env: "attested",
  command: "enforced",
  network: "attested",
  read: "attested",
  write: "attested"
}

export { piRefusal }

/** Any argv or shell execution, except the harness-only pi agent. */
export const unsupported = (execution: PreparedExecution): string | undefined =>
  execution.agent === "pi" ? piRefusal : undefined

export { SPAWN_FAILED_EXIT_CODE, spawnFailureLine, TIMEOUT_EXIT_CODE } from "./Child.js"

const failed = (reason: string) => new SessionFailed({ tier, reason })

const hostEnv = () => buildEnv({ host: process.env, prepared: {}, secrets: [], proxyUrl: undefined })

// ---------------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------------

const notReady = (reason: string): Readiness => ({ ready: false, reasons: [reason] })

/** Ready when `sh -c "exit 0"` can be spawned and exits 0. */
const probeSh: Effect.Effect<Readiness> = Effect.async<Readiness>((resume) => {
  let settled = false
  const settle = (readiness: Readiness) => {
    if (settled) return
    settled = true
    resume(Effect.succeed(readiness))
  }
  let child: ChildProcess
  try {
    child = spawn("sh", ["-c", "exit 0"], { stdio: "ignore", env: hostEnv() })
  } catch (error) {
    settle(notReady(`sh could not be spawned: ${String(error)}`))
    return
  }
  child.on("error", (error) => settle(notReady(`sh could not be spawned: ${error.message}`)))
  child.once("exit", (code, signal) =>
    settle(code === 0 ? { ready: true } : notReady(`sh -c "exit 0" ended with ${code ?? signal}`)))
  return Effect.sync(() => void child.kill("SIGKILL"))
}).pipe(
  Effect.timeoutTo({
    duration: "5 seconds",
    onTimeout: () => notReady("sh did not exit within 5 s"),
    onSuccess: (readiness) => readiness
  })
)

// ---------------------------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------------------------

const makeRun = (egress: EgressProxy["Type"]) =>
  Effect.fn("Process.run")(function*({ execution, secrets, workspace }: SessionRequest) {
    if (execution.agent === "pi") return yield* failed(piRefusal)
    const cwd = yield* workingDirectory(tier, workspace, execution.cwd)
    const capture = makeLogCapture(execution.logMaxBytes)

    // The proxy lives in its own scope, closed once the child is gone so its decisions stream
    // ends; on interruption the session's scope closes it after the group is stopped.
    const proxyScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    let proxyUrl: string | undefined
    let collector: Fiber.Fiber<Chunk.Chunk<EgressDecision>> | undefined
    if (execution.egressProxy) {
      const proxy = yield* egress.start(execution.network).pipe(
        Scope.extend(proxyScope),
        Effect.mapError((error) => failed(`the egress proxy could not start: ${error.message}`))
      )
      collector = yield* Effect.fork(Stream.runCollect(proxy.decisions))
      proxyUrl = proxy.url
    }

    const env = buildEnv({ host: process.env, prepared: execution.env, secrets, proxyUrl })
    const problem = envProblem(env)
    if (problem !== undefined) return yield* failed(problem)
    const { args, file } = commandLine(execution.command)
    const outcome = yield* runChild({ file, args, cwd, env, capture }, execution.timeoutMs)

    yield* Scope.close(proxyScope, Exit.void)
    const network = collector === undefined ? [] : Chunk.toReadonlyArray(yield* Fiber.join(collector))
    const redactor = makeRedactor(secrets.map((secret) => ({ name: secret.name, value: Redacted.value(secret.value) })))
    const { log, redactions, truncated } = finishLog(capture, redactor, execution.logMaxBytes)
    return { exitCode: outcome.exitCode, log, truncated, timedOut: outcome.timedOut, redactions, network }
  })

/** The process tier over the egress proxy service. */
export const make: Effect.Effect<SessionBackend, never, EgressProxy> = Effect.gen(function*() {
  const egress = yield* EgressProxy
  const probe = yield* Effect.cached(probeSh)
  return { tier, probe, capability, unsupported, run: makeRun(egress) }
})

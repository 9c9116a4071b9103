/**
 * The process tier: the execution runs as a child process in its own process group, with a
 * scrubbed environment and its traffic pointed at a per-session egress proxy. It enforces
 * command; env, network, read and write it can only attest (a binary can ignore proxy
 * variables, and open any path — `/proc/<runner>/environ` included — the runner's user can). Whatever ends the session — exit,
 * timeout, the log cap, interruption — the whole group is stopped before `run` returns.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { realpath, stat } from "node:fs/promises"
import { constants } from "node:os"
import {
  Chunk,
  Deferred,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Fiber,
  Option,
  Redacted,
  Scope,
  Stream
} from "effect"
import type { EgressDecision } from "../egress/EgressDecision.js"
import { EgressProxy } from "../egress/EgressProxy.js"
import { piRefusal } from "./Agents.js"
import type { PreparedExecution } from "./Execution.js"
import { finishLog, type LogCapture, makeLogCapture } from "./LogCapture.js"
import { buildEnv, commandLine, isWithin, resolveCwd } from "./ProcessEnv.js"
import { terminateGroup } from "./ProcessGroup.js"
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

/** The exit code of a session stopped by its timeout, as `timeout(1)` reports it. */
export const TIMEOUT_EXIT_CODE = 124
/** The exit code of a program that could not be started, as a shell reports it. */
export const SPAWN_FAILED_EXIT_CODE = 127

const TERMINATE = { graceMs: 500, killWaitMs: 2_000 }
/** After the group is gone, how long a pipe held open by an escaped process is still read. */
const DRAIN = Duration.millis(250)

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
// The child
// ---------------------------------------------------------------------------------------------

interface Running {
  readonly _tag: "Running"
  readonly child: ChildProcess
  readonly pgid: number
  /** The exit code, 128 + the signal number for a signalled child. */
  readonly exited: Deferred.Deferred<number>
  /** The log cap was reached. */
  readonly capped: Deferred.Deferred<void>
  /** Both output pipes closed. */
  readonly drained: Deferred.Deferred<void>
}

interface SpawnFailed {
  readonly _tag: "SpawnFailed"
}

const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal === null ? 0 : constants.signals[signal] ?? 0)

const describeSpawnError = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === "ENOENT") return "not found (ENOENT)"
  if (code === "EACCES") return "permission denied (EACCES)"
  return error instanceof Error ? error.message : String(error)
}

/** The line a spawn failure leaves in the log. */
export const spawnFailureLine = (file: string, error: unknown) =>
  `warrant: could not start ${JSON.stringify(file)}: ${describeSpawnError(error)}\n`

const stopReading = (child: ChildProcess) =>
  Effect.sync(() => {
    child.stdout?.destroy()
    child.stderr?.destroy()
  })

interface Launch {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Record<string, string>
  readonly capture: LogCapture
}

/**
 * Spawns the child in its own process group with both output pipes feeding the capture;
 * releasing stops the whole group and the reading.
 */
const launch = ({ args, capture, cwd, env, file }: Launch): Effect.Effect<Running | SpawnFailed, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const exited = yield* Deferred.make<number>()
      const capped = yield* Deferred.make<void>()
      const drained = yield* Deferred.make<void>()
      return yield* Effect.async<Running | SpawnFailed>((resume) => {
        let settled = false
        const settle = (outcome: Running | SpawnFailed) => {
          if (settled) return
          settled = true
          resume(Effect.succeed(outcome))
        }
        const spawnFailed = (error: unknown) => {
          capture.write(spawnFailureLine(file, error))
          settle({ _tag: "SpawnFailed" })
        }
        let child: ChildProcess
        try {
          child = spawn(file, [...args], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
        } catch (error) {
          spawnFailed(error)
          return
        }
        let open = 0
        for (const stream of [child.stdout, child.stderr]) {
          if (stream === null) continue
          open++
          stream.on("data", (chunk: Buffer) => {
            if (!capture.write(chunk)) Deferred.unsafeDone(capped, Exit.void)
          })
          stream.on("error", () => {})
          stream.once("close", () => {
            if (--open === 0) Deferred.unsafeDone(drained, Exit.void)
          })
        }
        child.once("exit", (code, signal) => Deferred.unsafeDone(exited, Exit.succeed(exitCodeOf(code, signal))))
        child.once("spawn", () => settle({ _tag: "Running", child, pgid: child.pid!, exited, capped, drained }))
        // The first error before "spawn" is a spawn failure; any later one (a failed kill) is ignored.
        child.on("error", (error) => {
          if (!settled) {
            child.stdout?.destroy()
            child.stderr?.destroy()
            spawnFailed(error)
          }
        })
      })
    }),
    (launched) =>
      launched._tag === "Running"
        ? Effect.zipRight(terminateGroup(launched.pgid, TERMINATE), stopReading(launched.child))
        : Effect.void
  )

interface Outcome {
  readonly exitCode: number
  readonly timedOut: boolean
}

/**
 * Runs the child to its end: its exit, the timeout or the log cap, whichever comes first.
 * In every case the rest of the group is stopped (a background grandchild holding the
 * output open does not keep the session alive), then what is left in the pipes is read.
 */
const supervise = (running: Running, timeoutMs: number): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const first = yield* Effect.raceAll([
      Effect.map(Deferred.await(running.exited), (code) => ({ _tag: "Exited" as const, code })),
      Effect.as(Deferred.await(running.capped), { _tag: "Capped" as const }),
      Effect.as(Effect.sleep(Duration.millis(Math.max(0, timeoutMs))), { _tag: "TimedOut" as const })
    ])
    yield* terminateGroup(running.pgid, TERMINATE)
    const code = first._tag === "Exited"
      ? first.code
      : Option.getOrElse(
        yield* Effect.timeoutOption(Deferred.await(running.exited), Duration.millis(TERMINATE.killWaitMs)),
        () => 128 + constants.signals.SIGKILL
      )
    yield* Effect.timeoutOption(Deferred.await(running.drained), DRAIN)
    yield* stopReading(running.child)
    return first._tag === "TimedOut"
      ? { exitCode: TIMEOUT_EXIT_CODE, timedOut: true }
      : { exitCode: code, timedOut: false }
  })

const runChild = (launchSpec: Launch, timeoutMs: number): Effect.Effect<Outcome> =>
  Effect.scoped(
    Effect.flatMap(launch(launchSpec), (launched) =>
      launched._tag === "Running"
        ? supervise(launched, timeoutMs)
        : Effect.succeed({ exitCode: SPAWN_FAILED_EXIT_CODE, timedOut: false }))
  )

// ---------------------------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------------------------

/** The real working directory: inside the workspace (symlinks followed) and a directory. */
const workingDirectory = (workspace: string, cwd: string): Effect.Effect<string, SessionFailed> =>
  Effect.gen(function*() {
    const lexical = resolveCwd(workspace, cwd)
    if (lexical._tag === "Left") return yield* failed(lexical.left)
    const [realRoot, realDir] = yield* Effect.tryPromise({
      try: () => Promise.all([realpath(workspace), realpath(lexical.right)]),
      catch: () => failed(`the working directory ${JSON.stringify(cwd)} does not exist in the workspace`)
    })
    if (!isWithin(realRoot, realDir)) {
      return yield* failed(`the working directory ${JSON.stringify(cwd)} leads outside the workspace`)
    }
    const info = yield* Effect.tryPromise({
      try: () => stat(realDir),
      catch: () => failed(`the working directory ${JSON.stringify(cwd)} does not exist in the workspace`)
    })
    if (!info.isDirectory()) return yield* failed(`the working directory ${JSON.stringify(cwd)} is not a directory`)
    return realDir
  })

const makeRun = (egress: EgressProxy["Type"]) =>
  Effect.fn("Process.run")(function*({ execution, secrets, workspace }: SessionRequest) {
    if (execution.agent === "pi") return yield* failed(piRefusal)
    const cwd = yield* workingDirectory(workspace, execution.cwd)
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

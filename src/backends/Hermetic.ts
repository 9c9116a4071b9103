/**
 * The hermetic tier: a shell script runs in just-bash, a bash interpreter with only built-in
 * commands, no real processes and no sockets of its own. Its filesystem is the workspace
 * (`/` is the workspace root, nothing outside it can be named), its environment is exactly
 * the prepared one, and its only way out is a fetch that decides every request with the
 * egress rules — without an allowed host there is no `curl` at all. It therefore enforces
 * every dimension, but runs shell scripts only: no vendor CLI exists inside.
 */
import { posix } from "node:path"
import { Effect, Either, Redacted, type Runtime } from "effect"
import type { Bash, BashExecResult, BashOptions, IFileSystem } from "just-bash"
import { compile } from "../egress/EgressPolicy.js"
import * as Resolver from "../egress/Resolver.js"
import { piRefusal } from "./Agents.js"
import type { EnvValue, PreparedExecution } from "./Execution.js"
import { makeNetworkLog, makeSecureFetch, type Refusals } from "./HermeticFetch.js"
import { withNullDevice } from "./HermeticFs.js"
import { networkEnabled } from "./HermeticNetwork.js"
import { finishLog, makeLogCapture, truncationMarker } from "./LogCapture.js"
import { makeRedactor } from "./Redaction.js"
import {
  type Capability,
  type Readiness,
  type ReleasedSecret,
  type SessionBackend,
  SessionFailed,
  type SessionRequest,
  type SessionResult
} from "./SessionBackend.js"

type JustBash = typeof import("just-bash")
type ExecutionLimits = NonNullable<BashOptions["executionLimits"]>

export const tier = "hermetic" as const

export const capability: Capability = {
  read: "enforced",
  write: "enforced",
  command: "enforced",
  network: "enforced",
  env: "enforced"
}

export const shellOnlyRefusal = "the hermetic tier runs shell scripts only"
export { piRefusal }

/** Shell executions only, and never the harness-only pi agent. */
export const unsupported = (execution: PreparedExecution): string | undefined =>
  execution.agent === "pi" ? piRefusal : execution.command.kind === "shell" ? undefined : shellOnlyRefusal

/** The exit code of a session stopped by its timeout, as `timeout(1)` reports it. */
export const TIMEOUT_EXIT_CODE = 124

/**
 * just-bash's limits, spelled out so an upgrade cannot loosen them. The interpreter runs on
 * the runner's own thread and a busy loop never yields to the event loop, so these limits,
 * not a timer, are what stop it: the wall-clock limit is the session's timeout, checked by
 * the interpreter itself between statements. The output limit is the log cap: just-bash hands output
 * back only when the script ends, so the cap can only stop a runaway printer through it.
 * It bounds each command too, output redirected into a file included. Strings, arrays and
 * sed/awk/jq loops are bounded well below just-bash's defaults: the interpreter shares the
 * runner's heap, and 40 copies of an 8 MiB string once took 640 MB of it.
 */
export const executionLimits = (execution: PreparedExecution): ExecutionLimits => ({
  maxExecutionTimeMs: execution.timeoutMs,
  maxCommandCount: 100_000,
  maxLoopIterations: 100_000,
  maxCallDepth: 100,
  maxSourceDepth: 100,
  maxSubstitutionDepth: 50,
  maxExecDepth: 64,
  maxOutputSize: execution.logMaxBytes,
  maxStringLength: 4 * 1024 * 1024,
  maxArrayElements: 100_000,
  maxLiveBytes: 64 * 1024 * 1024,
  maxInputBytes: 64 * 1024 * 1024,
  maxHeredocSize: 4 * 1024 * 1024,
  maxSedIterations: 10_000,
  maxAwkIterations: 100_000,
  maxJqIterations: 100_000,
  maxFileDescriptors: 1024
})

/** The session's whole environment: the prepared variables, released secrets substituted; nothing from the host. */
export const sessionEnv = (
  prepared: Readonly<Record<string, EnvValue>>,
  secrets: ReadonlyArray<ReleasedSecret>
): Record<string, string> => {
  const released = new Map(secrets.map((secret) => [secret.name, secret.value] as const))
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(prepared)) {
    if (value._tag === "Literal") {
      env[name] = value.value
      continue
    }
    const secret = released.get(value.secret)
    if (secret !== undefined) env[name] = Redacted.value(secret)
  }
  return env
}

/** The working directory inside the interpreter, where `/` is the workspace root. */
export const virtualCwd = (cwd: string): Either.Either<string, string> =>
  posix.isAbsolute(cwd) || cwd.split("/").includes("..")
    ? Either.left(`the working directory ${JSON.stringify(cwd)} is outside the workspace`)
    : Either.right(posix.join("/", cwd))

const failed = (reason: string) => new SessionFailed({ tier, reason })

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

// ---------------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------------

const load: Effect.Effect<JustBash, string> = Effect.tryPromise({
  try: () => import("just-bash"),
  catch: (error) => `just-bash could not be imported: ${messageOf(error)}`
})

/** Ready when just-bash imports and an interpreter answers `echo ready`. */
const probeWith = (justBash: Effect.Effect<JustBash, string>): Effect.Effect<Readiness> =>
  justBash.pipe(
    Effect.flatMap((jb) =>
      Effect.tryPromise({
        try: () => new jb.Bash().exec("echo ready"),
        catch: (error) => `a just-bash interpreter could not run: ${messageOf(error)}`
      })
    ),
    Effect.flatMap((result) =>
      result.exitCode === 0 && result.stdout === "ready\n"
        ? Effect.succeed<Readiness>({ ready: true })
        : Effect.fail(`a just-bash interpreter answered ${JSON.stringify(result.stdout + result.stderr)} (exit ${result.exitCode})`)
    ),
    Effect.catchAll((reason) => Effect.succeed<Readiness>({ ready: false, reasons: [reason] }))
  )

// ---------------------------------------------------------------------------------------------
// Running the script
// ---------------------------------------------------------------------------------------------

/**
 * The script inside one brace group, opened on its first line so line numbers are kept.
 * just-bash returns the output of a group cut short by the deadline or an abort, where it
 * drops a bare script's; a script that closes the group itself only loses that for its tail.
 */
export const groupScript = (script: string): string => `{ ${script}\n}`

/** Why the session's abort signal fired; the first reason wins. */
const TIMED_OUT = "timed-out"
const INTERRUPTED = "interrupted"

type Outcome =
  | { readonly _tag: "Finished"; readonly result: BashExecResult; readonly elapsedMs: number }
  | { readonly _tag: "Threw"; readonly error: unknown }

/**
 * Runs the script to its end, its timeout or interruption. The interpreter checks its own
 * deadline (a busy loop starves timers); the timer here covers waits such as a stalled
 * request. Interruption aborts and then waits for the interpreter to stop, so nothing
 * still writes to the workspace once `run` is done.
 */
const execute = (bash: Bash, script: string, controller: AbortController, timeoutMs: number): Effect.Effect<Outcome> =>
  Effect.async<Outcome>((resume) => {
    const started = performance.now()
    // Node fires a longer delay than 2^31-1 ms at once; a longer timeout is as good as none.
    const timer = setTimeout(() => controller.abort(TIMED_OUT), Math.min(timeoutMs, 2 ** 31 - 1))
    const done = bash.exec(script, { signal: controller.signal, rawScript: true }).then(
      (result): Outcome => ({ _tag: "Finished", result, elapsedMs: performance.now() - started }),
      (error): Outcome => ({ _tag: "Threw", error })
    ).finally(() => clearTimeout(timer))
    void done.then((outcome) => resume(Effect.succeed(outcome)))
    return Effect.promise(() => {
      controller.abort(INTERRUPTED)
      return done
    })
  })

/** just-bash's exit code for an exceeded execution limit. */
const LIMIT_EXIT_CODE = 126

/** The interpreter stopped the script because its output passed `maxOutputSize` (the log cap). */
const outputLimitHit = (result: BashExecResult) =>
  result.exitCode === LIMIT_EXIT_CODE && /(output|value) size (limit )?exceeded/.test(result.stderr)

const refusalsOf = (jb: JustBash): Refusals => ({
  denied: (url, reason) => new jb.NetworkAccessDeniedError(url, reason),
  redirectDenied: (url) => new jb.RedirectNotAllowedError(url),
  tooManyRedirects: (max) => new jb.TooManyRedirectsError(max)
})

const makeRun = (justBash: Effect.Effect<JustBash, string>, runtime: Runtime.Runtime<Resolver.Resolver>) =>
  Effect.fn("Hermetic.run")(function*({ execution, secrets, workspace }: SessionRequest) {
    const refusal = unsupported(execution)
    if (refusal !== undefined) return yield* failed(refusal)
    const { command } = execution
    if (command.kind !== "shell") return yield* failed(shellOnlyRefusal)
    const jb = yield* Effect.mapError(justBash, failed)
    const policy = yield* Either.mapLeft(compile(execution.network), (error) => failed(`the network policy is invalid: ${error.message}`))
    const cwd = yield* Either.mapLeft(virtualCwd(execution.cwd), failed)

    const workspaceFs = yield* Effect.try({
      try: (): IFileSystem => new jb.ReadWriteFs({ root: workspace }),
      catch: (error) => failed(`the workspace cannot be opened: ${messageOf(error)}`)
    })
    const fs = withNullDevice(workspaceFs, jb.EMPTY_BYTES)
    const isDirectory = yield* Effect.promise(() => fs.stat(cwd).then((info) => info.isDirectory, () => false))
    if (!isDirectory) return yield* failed(`the working directory ${JSON.stringify(execution.cwd)} is not a directory in the workspace`)

    const network = makeNetworkLog()
    const fetch = networkEnabled(execution.network)
      ? makeSecureFetch({ policy, log: network, refusals: refusalsOf(jb) }, runtime, (run) => jb.DefenseInDepthBox.runTrustedAsync(run))
      : undefined
    const bash = new jb.Bash({
      fs,
      cwd,
      env: sessionEnv(execution.env, secrets),
      executionLimits: executionLimits(execution),
      executionLimitProfile: "normal",
      ...(fetch === undefined ? {} : { fetch })
    })

    const controller = new AbortController()
    const outcome = yield* execute(bash, groupScript(command.script), controller, execution.timeoutMs)
    const stop: unknown = controller.signal.aborted ? controller.signal.reason : undefined
    if (outcome._tag === "Threw" && stop !== TIMED_OUT) {
      return yield* failed(`the interpreter failed: ${messageOf(outcome.error)}`)
    }

    // just-bash hands back each stream whole, so the log is stdout, then stderr.
    const capture = makeLogCapture(execution.logMaxBytes)
    if (outcome._tag === "Finished") {
      const { result } = outcome
      const binary = result.stdoutKind === "bytes" || result.stdoutEncoding === "binary"
      capture.write(binary ? Buffer.from(result.stdout, "latin1") : result.stdout)
      capture.write(result.stderr)
    }
    const exitCode = outcome._tag === "Finished" ? outcome.result.exitCode : TIMEOUT_EXIT_CODE
    const timedOut = stop === TIMED_OUT ||
      (outcome._tag === "Finished" && exitCode === TIMEOUT_EXIT_CODE && outcome.elapsedMs >= execution.timeoutMs)

    const redactor = makeRedactor(secrets.map((secret) => ({ name: secret.name, value: Redacted.value(secret.value) })))
    const finished = finishLog(capture, redactor, execution.logMaxBytes)
    // Output the interpreter dropped at the cap was cut even when what it kept fits.
    const cut = !finished.truncated && outcome._tag === "Finished" && outputLimitHit(outcome.result)
    const result: SessionResult = {
      exitCode: timedOut ? TIMEOUT_EXIT_CODE : exitCode,
      log: cut ? finished.log + truncationMarker(execution.logMaxBytes) : finished.log,
      truncated: finished.truncated || cut,
      timedOut,
      redactions: finished.redactions,
      network: network.decisions()
    }
    return result
  })

/** The hermetic tier, resolving names with the given resolver (a test can answer as a hostile DNS server would). */
export const makeWithResolver: Effect.Effect<SessionBackend, never, Resolver.Resolver> = Effect.gen(function*() {
  const runtime = yield* Effect.runtime<Resolver.Resolver>()
  const justBash = yield* Effect.cached(load)
  const probe = yield* Effect.cached(probeWith(justBash))
  return { tier, probe, capability, unsupported, run: makeRun(justBash, runtime) }
})

/** The hermetic tier with the system resolver. */
export const make: Effect.Effect<SessionBackend> = makeWithResolver.pipe(Effect.provide(Resolver.layerSystem))

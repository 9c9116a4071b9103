/**
 * Running one supervised child for a session: spawned in its own process group (no descriptor
 * the runner inherited reaches it) with both output pipes feeding the log capture (and optional extra pipes: bytes handed to it, text
 * read back), ended by its exit, the timeout or the log cap — whichever is first — and
 * stopped by the tier's own `stop` before the scope closes. Shared by every tier that
 * launches a local program (the process tier, bubblewrap, a container runtime's client).
 */
import { type ChildProcess, spawn } from "node:child_process"
import type { Readable, Writable } from "node:stream"
import { constants } from "node:os"
import { Deferred, Duration, Effect, Exit, Option, type Scope } from "effect"
import type { LogCapture } from "./LogCapture.js"
import { terminateGroup } from "./ProcessGroup.js"
import { coverStrayFds } from "./StrayFds.js"

/** The exit code of a session stopped by its timeout, as `timeout(1)` reports it. */
export const TIMEOUT_EXIT_CODE = 124
/** The exit code of a program that could not be started, as a shell reports it. */
export const SPAWN_FAILED_EXIT_CODE = 127

/** How a tier stops what it launched: the default signals the whole process group. */
export type Stop = (running: { readonly pid: number }) => Effect.Effect<void>

export const stopGroup = (options: { readonly graceMs: number; readonly killWaitMs: number }): Stop => ({ pid }) =>
  terminateGroup(pid, options)

export const DEFAULT_STOP = stopGroup({ graceMs: 500, killWaitMs: 2_000 })

/** An extra pipe on fd 3, 4, …: bytes written to the child then closed, or text read from it. */
export type ExtraPipe =
  | { readonly _tag: "Input"; readonly data: Uint8Array }
  | { readonly _tag: "Output" }

export interface Launch {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Record<string, string>
  readonly capture: LogCapture
  readonly extra?: ReadonlyArray<ExtraPipe>
  readonly stop?: Stop
  /** How long the tier waits for the child to exit once stopped. */
  readonly killWaitMs?: number
}

export interface Outcome {
  readonly exitCode: number
  readonly timedOut: boolean
  /** False when the program could not be started at all (the log says why). */
  readonly started: boolean
  /** What each `Output` extra pipe carried, in the order given. */
  readonly outputs: ReadonlyArray<string>
}

interface Running {
  readonly _tag: "Running"
  readonly child: ChildProcess
  readonly pid: number
  /** The exit code, 128 + the signal number for a signalled child. */
  readonly exited: Deferred.Deferred<number>
  /** The log cap was reached. */
  readonly capped: Deferred.Deferred<void>
  /** Both output pipes closed. */
  readonly drained: Deferred.Deferred<void>
  readonly outputs: ReadonlyArray<Array<Buffer>>
}

interface SpawnFailed {
  readonly _tag: "SpawnFailed"
}

/** After the group is gone, how long a pipe held open by an escaped process is still read. */
const DRAIN = Duration.millis(250)

const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal === null ? 0 : constants.signals[signal] ?? 0)

/**
 * Only the system's errno reasons are quoted: Node's argument-validation messages quote the
 * offending value (an environment value, which may be a secret) in an escaped form no
 * redactor recognises.
 */
const describeSpawnError = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === "ENOENT") return "not found (ENOENT)"
  if (code === "EACCES") return "permission denied (EACCES)"
  const errno = (error as NodeJS.ErrnoException | undefined)?.errno
  if (typeof errno === "number" && typeof code === "string") return code
  return `Node refused to start it${typeof code === "string" ? ` (${code})` : ""}`
}

/** The line a spawn failure leaves in the log. */
export const spawnFailureLine = (file: string, error: unknown) =>
  `warrant: could not start ${JSON.stringify(file)}: ${describeSpawnError(error)}\n`

const stopReading = (child: ChildProcess) =>
  Effect.sync(() => {
    for (const stream of child.stdio) stream?.destroy()
  })

const wireExtra = (child: ChildProcess, extra: ReadonlyArray<ExtraPipe>): ReadonlyArray<Array<Buffer>> => {
  const outputs: Array<Array<Buffer>> = []
  extra.forEach((pipe, index) => {
    const stream = child.stdio[3 + index]
    if (stream === null || stream === undefined) return
    stream.on("error", () => {})
    if (pipe._tag === "Input") {
      ;(stream as Writable).end(Buffer.from(pipe.data))
    } else {
      const chunks: Array<Buffer> = []
      outputs.push(chunks)
      ;(stream as Readable).on("data", (chunk: Buffer) => chunks.push(chunk))
    }
  })
  return outputs
}

const launch = (spec: Launch, stop: Stop): Effect.Effect<Running | SpawnFailed, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const exited = yield* Deferred.make<number>()
      const capped = yield* Deferred.make<void>()
      const drained = yield* Deferred.make<void>()
      const extra = spec.extra ?? []
      return yield* Effect.async<Running | SpawnFailed>((resume) => {
        let settled = false
        const settle = (outcome: Running | SpawnFailed) => {
          if (settled) return
          settled = true
          resume(Effect.succeed(outcome))
        }
        const spawnFailed = (error: unknown) => {
          spec.capture.write(spawnFailureLine(spec.file, error))
          settle({ _tag: "SpawnFailed" })
        }
        let child: ChildProcess
        const { release, stdio } = coverStrayFds(["ignore", "pipe", "pipe", ...extra.map(() => "pipe" as const)])
        try {
          child = spawn(spec.file, [...spec.args], { cwd: spec.cwd, env: spec.env, detached: true, stdio })
        } catch (error) {
          spawnFailed(error)
          return
        } finally {
          release()
        }
        let open = 0
        for (const stream of [child.stdout, child.stderr]) {
          if (stream === null) continue
          open++
          stream.on("data", (chunk: Buffer) => {
            if (!spec.capture.write(chunk)) Deferred.unsafeDone(capped, Exit.void)
          })
          stream.on("error", () => {})
          stream.once("close", () => {
            if (--open === 0) Deferred.unsafeDone(drained, Exit.void)
          })
        }
        const outputs = wireExtra(child, extra)
        child.once("exit", (code, signal) => Deferred.unsafeDone(exited, Exit.succeed(exitCodeOf(code, signal))))
        child.once("spawn", () => settle({ _tag: "Running", child, pid: child.pid!, exited, capped, drained, outputs }))
        // The first error before "spawn" is a spawn failure; a later one (a failed kill) is ignored.
        child.on("error", (error) => {
          if (!settled) {
            for (const stream of child.stdio) stream?.destroy()
            spawnFailed(error)
          }
        })
      })
    }),
    (launched) =>
      launched._tag === "Running"
        ? Effect.zipRight(stop(launched), stopReading(launched.child))
        : Effect.void
  )

/**
 * Runs the child to its end: its exit, the timeout or the log cap, whichever comes first.
 * In every case the rest of what it started is stopped (a background grandchild holding the
 * output open does not keep the session alive), then what is left in the pipes is read.
 */
const supervise = (running: Running, timeoutMs: number, stop: Stop, killWaitMs: number): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const first = yield* Effect.raceAll([
      Effect.map(Deferred.await(running.exited), (code) => ({ _tag: "Exited" as const, code })),
      Effect.as(Deferred.await(running.capped), { _tag: "Capped" as const }),
      Effect.as(Effect.sleep(Duration.millis(Math.max(0, timeoutMs))), { _tag: "TimedOut" as const })
    ])
    yield* stop(running)
    const code = first._tag === "Exited"
      ? first.code
      : Option.getOrElse(
        yield* Effect.timeoutOption(Deferred.await(running.exited), Duration.millis(killWaitMs)),
        () => 128 + constants.signals.SIGKILL
      )
    yield* Effect.timeoutOption(Deferred.await(running.drained), DRAIN)
    yield* stopReading(running.child)
    const outputs = running.outputs.map((chunks) => Buffer.concat(chunks).toString("utf8"))
    return first._tag === "TimedOut"
      ? { exitCode: TIMEOUT_EXIT_CODE, timedOut: true, started: true, outputs }
      : { exitCode: code, timedOut: false, started: true, outputs }
  })

/** Launches, supervises and stops one child; nothing it started outlives the returned effect. */
export const runChild = (spec: Launch, timeoutMs: number): Effect.Effect<Outcome> => {
  const stop = spec.stop ?? DEFAULT_STOP
  return Effect.scoped(
    Effect.flatMap(launch(spec, stop), (launched) =>
      launched._tag === "Running"
        ? supervise(launched, timeoutMs, stop, spec.killWaitMs ?? 2_000)
        : Effect.succeed({ exitCode: SPAWN_FAILED_EXIT_CODE, timedOut: false, started: false, outputs: [] }))
  )
}

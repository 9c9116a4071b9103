/**
 * The Vercel Sandbox tier: each session runs in its own Firecracker microVM. The workspace
 * is staged in, the command runs with its environment exported by a quoted script, the VM's
 * firewall enforces the contract's network policy, and the changes — deletions included —
 * are mirrored back through path checks. The runner's filesystem, environment and network
 * are out of the session's reach, so read, write, network and env are enforced; inside the
 * VM nothing restricts which programs the command starts, so command is only attested.
 *
 * The sandbox is a scoped resource: stopped however the session ends. A stop that fails
 * after a successful session is logged, not fatal; after a failure the original error stands.
 */
import { posix } from "node:path"
import { Clock, Deferred, Duration, Effect, Either, Exit, Redacted } from "effect"
import { piRefusal } from "./Agents.js"
import type { PreparedExecution } from "./Execution.js"
import { sessionEnv, TIMEOUT_EXIT_CODE } from "./Hermetic.js"
import { finishLog, type LogCapture, makeLogCapture } from "./LogCapture.js"
import { makeRedactor } from "./Redaction.js"
import {
  type Capability,
  type Readiness,
  type SessionBackend,
  SessionFailed,
  type SessionRequest,
  type SessionResult
} from "./SessionBackend.js"
import { sessionScript } from "./ShellQuote.js"
import { type CredentialOptions, type Environment, resolveCredentials } from "./VercelCredentials.js"
import { type CreateOptions, createInput } from "./VercelCreate.js"
import {
  type BatchLimits,
  batches,
  checkRemotePath,
  checkWorkdir,
  DEFAULT_BATCH,
  executable,
  listWorkspace,
  type MirrorPlan,
  parseListing,
  planMirror,
  readStaged,
  realRoot,
  type Refusal,
  refusalLine,
  removeInside,
  sha256,
  type StagedFile,
  vmPath,
  writeInside
} from "./VercelMirror.js"
import { type CreateSandbox, createVercelSandbox, type SandboxSession } from "./VercelSdk.js"
import { workingDirectory } from "./WorkingDirectory.js"

export const tier = "vercel-sandbox" as const

export const capability: Capability = {
  read: "enforced",
  write: "enforced",
  command: "attested",
  network: "enforced",
  env: "enforced"
}

/** Inside the sandbox user's writable home, apart from where a git or tarball source lands. */
export const DEFAULT_WORKDIR = "/vercel/sandbox/warrant"

/** Where the session script is written: outside the workdir, so it is never mirrored back. */
export const SCRIPT_PATH = "/tmp/warrant/session.sh"

export { TIMEOUT_EXIT_CODE }

/** The exit code of a command killed at the log cap, as a shell reports SIGKILL. */
export const CAPPED_EXIT_CODE = 128 + 9

/** The VM's own kill comes this long after the runner's timeout, so the runner's is the one seen. */
const KILL_GRACE_MS = 5_000

/** How long a stop may take before the session gives up on it (the sandbox's timeout still ends it). */
const STOP_TIMEOUT = Duration.seconds(30)

/** Reads of changed files in flight at once. */
const MIRROR_CONCURRENCY = 8

export interface VercelSandboxOptions extends CreateOptions, CredentialOptions {
  /** The VM directory the workspace is staged into; absolute, no `..`. */
  readonly workdir?: string
  /** Creates the sandbox; the real SDK unless a test supplies a double. */
  readonly createSandbox?: CreateSandbox
  /** Where VERCEL_* variables are read; the process environment unless given. */
  readonly env?: Environment
  /** Per write call while staging. */
  readonly staging?: Partial<BatchLimits>
}

const failed = (reason: string) => new SessionFailed({ tier, reason })

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** The command's directory in the VM; the execution's cwd was already checked against the local workspace. */
export const vmCwd = (workdir: string, cwd: string): Either.Either<string, string> => {
  if (cwd === ".") return Either.right(workdir)
  const problem = checkRemotePath(cwd)
  return problem === undefined
    ? Either.right(vmPath(workdir, posix.normalize(cwd)))
    : Either.left(`the working directory ${JSON.stringify(cwd)} cannot be used in the sandbox: ${problem}`)
}

/** Any agent but the harness-only pi, when the options and the contract's network policy can be honoured exactly. */
export const unsupportedWith = (options: VercelSandboxOptions) => (execution: PreparedExecution): string | undefined => {
  if (execution.agent === "pi") return piRefusal
  return Either.match(createInput(execution, options), { onLeft: (reason) => reason, onRight: () => undefined })
}

// ---------------------------------------------------------------------------------------------
// Staging and mirror-back
// ---------------------------------------------------------------------------------------------

interface SessionContext {
  readonly sandbox: SandboxSession
  readonly root: string
  readonly workdir: string
  /** Text with every released secret and the token replaced: a path from the VM can hold one too. */
  readonly scrub: (text: string) => string
}

/** A sandbox call, or a local one on the sandbox's behalf; the reason is `what` and the error, scrubbed. */
const call = <A>(ctx: SessionContext, what: string, run: (signal: AbortSignal) => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (error) => failed(ctx.scrub(`${what}: ${messageOf(error)}`)) })

const local = <A>(what: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (error) => failed(`${what}: ${messageOf(error)}`) })

const linksLine = (links: ReadonlyArray<string>): string => {
  const shown = links.slice(0, 10).map((link) => JSON.stringify(link)).join(", ")
  return `warrant: ${links.length} symbolic link(s) not staged into the sandbox: ${shown}${links.length > 10 ? ", …" : ""}\n`
}

/** Copies the workspace's regular files in, batch by batch; returns what each staged file held. */
const stage = (ctx: SessionContext, limits: BatchLimits, capture: LogCapture) =>
  Effect.gen(function*() {
    const { files, links } = yield* call(ctx, "the workspace could not be listed", () => listWorkspace(ctx.root))
    if (links.length > 0) capture.write(linksLine(links))
    const staged = new Map<string, StagedFile>()
    for (const batch of batches(files, limits)) {
      const contents = yield* call(ctx, "the workspace could not be read", () => Promise.all(batch.map((file) => readStaged(ctx.root, file.path))))
      const sandboxFiles = batch.map((file, i) => {
        const content = contents[i]!
        staged.set(file.path, { sha256: sha256(content), executable: executable(file.mode) })
        return { path: vmPath(ctx.workdir, file.path), content, mode: file.mode }
      })
      yield* call(ctx, "staging the workspace into the sandbox failed", (signal) => ctx.sandbox.writeFiles(sandboxFiles, signal))
    }
    return staged
  })

/** Applies the VM's changes locally: deletions first (a directory may have become a file), then writes. */
const mirrorBack = (ctx: SessionContext, staged: ReadonlyMap<string, StagedFile>) =>
  Effect.gen(function*() {
    const text = yield* call(ctx, "listing the sandbox's workdir failed", (signal) => ctx.sandbox.listFiles(ctx.workdir, signal))
    const listing = yield* Either.mapLeft(parseListing(text), failed)
    const plan: MirrorPlan = planMirror(staged, listing)
    const refusals: Array<Refusal> = [...plan.refusals]
    for (const path of plan.removals) {
      const refused = yield* call(ctx, `deleting ${JSON.stringify(path)} failed`, () => removeInside(ctx.root, path))
      if (refused !== undefined) refusals.push({ path, reason: refused })
    }
    const written = yield* Effect.forEach(plan.writes, ({ executable: isExecutable, path }) =>
      Effect.gen(function*() {
        const content = yield* call(ctx, `reading ${JSON.stringify(path)} from the sandbox failed`, (signal) =>
          ctx.sandbox.readFile(vmPath(ctx.workdir, path), signal))
        if (content === null) return { path, reason: "it vanished from the sandbox before it could be read" }
        const refused = yield* call(ctx, `writing ${JSON.stringify(path)} back failed`, () => writeInside(ctx.root, path, content, isExecutable))
        return refused === undefined ? undefined : { path, reason: refused }
      }), { concurrency: MIRROR_CONCURRENCY })
    for (const refusal of written) if (refusal !== undefined) refusals.push(refusal)
    return refusals
  })

// ---------------------------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------------------------

type Outcome = { readonly exitCode: number; readonly timedOut: boolean }

/** Runs the session script to its exit, the timeout or the log cap; a loser is interrupted, which kills the command. */
const runScript = (ctx: SessionContext, execution: PreparedExecution, capture: LogCapture) =>
  Effect.gen(function*() {
    const capped = yield* Deferred.make<void>()
    const command = call(ctx, "the command could not be run in the sandbox", (signal) =>
      ctx.sandbox.runCommand({
        cmd: "sh",
        args: [SCRIPT_PATH],
        // The script makes and enters the working directory itself; "/" always exists.
        cwd: "/",
        timeoutMs: execution.timeoutMs + KILL_GRACE_MS,
        signal,
        onOutput: (_stream, data) => {
          if (!capture.write(data)) Deferred.unsafeDone(capped, Exit.void)
        }
      })).pipe(Effect.map(({ exitCode }): Outcome => ({ exitCode, timedOut: false })))
    return yield* command.pipe(
      Effect.raceFirst(Effect.as(Deferred.await(capped), { exitCode: CAPPED_EXIT_CODE, timedOut: false })),
      Effect.raceFirst(Effect.as(Effect.sleep(Duration.millis(execution.timeoutMs)), { exitCode: TIMEOUT_EXIT_CODE, timedOut: true }))
    )
  })

const stopSandbox = (sandbox: SandboxSession, exit: Exit.Exit<unknown, unknown>, scrub: (text: string) => string) =>
  Effect.tryPromise({ try: () => sandbox.stop(), catch: (error) => error }).pipe(
    Effect.timeoutFail({ duration: STOP_TIMEOUT, onTimeout: () => new Error(`no answer within ${Duration.format(STOP_TIMEOUT)}`) }),
    Effect.catchAll((error) =>
      Effect.logWarning(
        Exit.isSuccess(exit)
          ? "the Vercel sandbox could not be stopped after the session; it ends at its own timeout"
          : "the Vercel sandbox could not be stopped after a failed session; it ends at its own timeout"
      ).pipe(Effect.annotateLogs({ tier, error: scrub(messageOf(error)) }))
    )
  )

const makeRun = (options: VercelSandboxOptions) => {
  const unsupported = unsupportedWith(options)
  const create = options.createSandbox ?? createVercelSandbox
  const limits: BatchLimits = { ...DEFAULT_BATCH, ...options.staging }
  return Effect.fn("VercelSandbox.run")(function*({ execution, secrets, workspace }: SessionRequest) {
    const refusal = unsupported(execution)
    if (refusal !== undefined) return yield* failed(refusal)
    const workdir = yield* Either.mapLeft(checkWorkdir(options.workdir ?? DEFAULT_WORKDIR), failed)
    const now = yield* Clock.currentTimeMillis
    const credentials = yield* Either.mapLeft(resolveCredentials(options, options.env ?? process.env, now), failed)
    const input = yield* Either.mapLeft(createInput(execution, options), failed)
    yield* workingDirectory(tier, workspace, execution.cwd)
    const cwd = yield* Either.mapLeft(vmCwd(workdir, execution.cwd), failed)
    const script = yield* Either.mapLeft(sessionScript({ cwd, env: sessionEnv(execution.env, secrets), command: execution.command }), failed)
    const root = yield* local("the workspace cannot be opened", () => realRoot(workspace))

    const secretValues = secrets.map((secret) => ({ name: secret.name, value: Redacted.value(secret.value) }))
    const scrubber = makeRedactor([...secretValues, { name: "VERCEL_TOKEN", value: Redacted.value(credentials.token) }])
    const scrub = (text: string) => scrubber.redact(text).text

    // The acquire is uninterruptible: an interrupted session waits for the create to answer,
    // then stops what it made, so no sandbox is left running until its own timeout.
    const sandbox = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: (signal) => create(input, credentials, signal),
        catch: (error) => failed(scrub(`the sandbox could not be created: ${messageOf(error)}`))
      }),
      (sandbox, exit) => stopSandbox(sandbox, exit, scrub)
    )
    const ctx: SessionContext = { sandbox, root, workdir, scrub }
    const capture = makeLogCapture(execution.logMaxBytes)
    const staged = yield* stage(ctx, limits, capture)
    // The script holds the secrets: no error about it carries the SDK's message, let alone the text.
    yield* Effect.tryPromise({
      try: (signal) => sandbox.writeFiles([{ path: SCRIPT_PATH, content: Buffer.from(script, "utf8"), mode: 0o700 }], signal),
      catch: () => failed("the session script could not be written to the sandbox")
    })
    const outcome = yield* runScript(ctx, execution, capture)
    const refusals = yield* mirrorBack(ctx, staged)
    for (const refused of refusals) capture.write(refusalLine(refused))

    const { log, redactions, truncated } = finishLog(capture, makeRedactor(secretValues), execution.logMaxBytes)
    const result: SessionResult = { exitCode: outcome.exitCode, log, truncated, timedOut: outcome.timedOut, redactions, network: [] }
    return result
  })
}

/** Ready when credentials resolve and the workdir is usable; never creates a sandbox. */
const probeWith = (options: VercelSandboxOptions): Effect.Effect<Readiness> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const reasons: Array<string> = []
    Either.match(resolveCredentials(options, options.env ?? process.env, now), { onLeft: (r) => reasons.push(r), onRight: () => {} })
    Either.match(checkWorkdir(options.workdir ?? DEFAULT_WORKDIR), { onLeft: (r) => reasons.push(r), onRight: () => {} })
    return reasons.length === 0 ? { ready: true } : { ready: false, reasons }
  })

/** The Vercel Sandbox tier with the given options (credentials from the environment unless given). */
export const make = (options: VercelSandboxOptions = {}): Effect.Effect<SessionBackend> =>
  Effect.gen(function*() {
    const probe = yield* Effect.cached(probeWith(options))
    return { tier, probe, capability, unsupported: unsupportedWith(options), run: makeRun(options) }
  })

/**
 * The container tier: the execution runs in a fresh docker or podman container — no network
 * (or only the egress bridge to a per-session proxy over a mounted Unix socket), no
 * capabilities, a read-only root, the workspace the only host path, only the prepared
 * environment. It enforces read, write, network and env; the command it only attests (the
 * image decides what can run). Whatever ends the session, the runtime client's process group
 * is stopped and the container removed by name before `run` returns: killing the client alone
 * never stops a container.
 *
 * The image is the operator's: it must provide `sh` for shell executions and `node` for
 * sessions that allow hosts (the egress bridge is a Node program). Without `node` such a
 * session exits 127 with the runtime's reason in its log; the command never runs and nothing
 * leaves the container.
 */
import { randomBytes } from "node:crypto"
import { mkdtemp, realpath, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { Chunk, Config, Effect, Either, ExecutionStrategy, Exit, Fiber, Option, Redacted, Scope, Stream } from "effect"
import type { EgressDecision } from "../egress/EgressDecision.js"
import { EgressProxy } from "../egress/EgressProxy.js"
import { piRefusal } from "./Agents.js"
import { findOnPath } from "./OnPath.js"
import { runChild, type Stop } from "./Child.js"
import {
  bridgedProxyUrl,
  clientEnv,
  containerEnv,
  containerName,
  probeArgv,
  removeArgv,
  RUNTIME_FAILED_EXIT_CODE,
  runArgv,
  type Runtime,
  runtimeReason,
  settingsProblems
} from "./ContainerArgv.js"
import type { PreparedExecution } from "./Execution.js"
import { finishLog, makeLogCapture } from "./LogCapture.js"
import { commandLine } from "./ProcessEnv.js"
import { terminateGroup } from "./ProcessGroup.js"
import { makeRedactor } from "./Redaction.js"
import { type Capability, type Readiness, type SessionBackend, SessionFailed, type SessionRequest } from "./SessionBackend.js"
import { workingDirectory } from "./WorkingDirectory.js"

export const tier = "container" as const

export const capability: Capability = {
  read: "enforced",
  write: "enforced",
  network: "enforced",
  env: "enforced",
  command: "attested"
}

export { piRefusal }

export const noImageReason =
  "no container image is configured; set the container tier's image option or WARRANT_CONTAINER_IMAGE"

export interface ContainerOptions {
  /** Default: docker if it is on PATH, else podman. */
  readonly runtime?: Runtime
  /** The image every session runs in. Default: WARRANT_CONTAINER_IMAGE. */
  readonly image?: string
  /** Default 256: contains a fork bomb. */
  readonly pidsLimit?: number
  /** Default "1g"; swap is capped at the same size, so there is none past it. */
  readonly memory?: string
  readonly cpus?: number
  /**
   * Default: the workspace owner's uid:gid, so the session can write its workspace and
   * nothing the owner could not. On rootless podman a host uid other than the caller's is not
   * mapped into the container; set this (and the image) accordingly there.
   */
  readonly user?: string
  /** The image's node binary, for the egress bridge. Default "node" (looked up in the image's PATH). */
  readonly node?: string
  /** Where a runtime's binary is. Default: a search of the host's PATH. */
  readonly resolveBinary?: (runtime: Runtime) => string | undefined
  /** Extra variables for the runtime client only (never the container); tests point a fake runtime with them. */
  readonly clientEnv?: Readonly<Record<string, string>>
  /** How long the probe waits for the runtime to answer. Default 5 s. */
  readonly probeTimeoutMs?: number
}

const DEFAULT_PIDS_LIMIT = 256
const DEFAULT_MEMORY = "1g"
/** Bounds `rm -f` when stopping: a hung engine must not hang the session's end. */
const REMOVE_TIMEOUT_MS = 10_000

const failed = (reason: string) => new SessionFailed({ tier, reason })

export { findOnPath }

interface Client {
  readonly runtime: Runtime
  /** Absolute, so nothing in the client's environment chooses which program runs. */
  readonly binary: string | undefined
  readonly env: Readonly<Record<string, string>>
}

const resolveClient = (options: ContainerOptions): Client => {
  const resolve = options.resolveBinary ?? ((runtime: Runtime) => findOnPath(runtime, process.env.PATH))
  const env = { ...clientEnv(process.env), ...options.clientEnv }
  if (options.runtime !== undefined) return { runtime: options.runtime, binary: resolve(options.runtime), env }
  const docker = resolve("docker")
  if (docker !== undefined) return { runtime: "docker", binary: docker, env }
  return { runtime: "podman", binary: resolve("podman"), env }
}

/** Runs the client with `args` to its end (bounded), its output captured. */
const runClient = (client: Client, binary: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  Effect.gen(function*() {
    const capture = makeLogCapture(16_384)
    const outcome = yield* runChild({ file: binary, args, cwd: tmpdir(), env: { ...client.env }, capture }, timeoutMs)
    return { ...outcome, output: capture.snapshot().text.trim() }
  })

// ---------------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------------

const firstLine = (text: string) => text.split("\n").find((line) => line.trim() !== "")?.trim() ?? "it printed nothing"

const probeRuntime = (client: Client, options: ContainerOptions): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const { binary, runtime } = client
    if (binary === undefined) {
      return [
        options.runtime === undefined
          ? "neither docker nor podman is on PATH; install one (and start its engine) to use the container tier"
          : `${runtime} is not on PATH; install it, or configure the other runtime`
      ]
    }
    const timeoutMs = options.probeTimeoutMs ?? 5_000
    const answer = yield* runClient(client, binary, probeArgv(runtime), timeoutMs)
    const what = runtime === "docker" ? `docker is installed (${binary}) but its engine` : `podman is installed (${binary}) but its service`
    const fix = runtime === "docker"
      ? "start the Docker engine, or point DOCKER_HOST at a running one"
      : "check that `podman info` succeeds for the runner's user"
    if (answer.timedOut) return [`${what} did not answer within ${timeoutMs} ms; ${fix}`]
    if (answer.exitCode !== 0) return [`${what} is not reachable: ${firstLine(answer.output)}; ${fix}`]
    if (runtime === "docker" && answer.output === "") return [`${what} reported no server version; ${fix}`]
    return []
  })

interface Settings {
  readonly image: string | undefined
  readonly pidsLimit: number
  readonly memory: string
  readonly cpus: number | undefined
}

const settingsReasons = (settings: Settings, user: string | undefined): ReadonlyArray<string> =>
  settings.image === undefined ? [noImageReason] : settingsProblems({ ...settings, image: settings.image, user })

const makeProbe = (client: Client, settings: Settings, options: ContainerOptions): Effect.Effect<Readiness> =>
  Effect.map(probeRuntime(client, options), (runtimeReasons): Readiness => {
    const reasons = [...runtimeReasons, ...settingsReasons(settings, options.user)]
    return reasons.length === 0 ? { ready: true } : { ready: false, reasons }
  })

// ---------------------------------------------------------------------------------------------
// The session
// ---------------------------------------------------------------------------------------------

/**
 * Stops the client's whole process group first, so it can start nothing more, then removes
 * the container by name: were the container removed first, a client still mid-create could
 * start it afterwards. The removal runs once per session, however often `stop` is called —
 * after a normal exit too, since a client that ended does not prove its container did.
 */
const stopContainer = (client: Client, binary: string, name: string): Stop => {
  let removed = false
  return ({ pid }) =>
    Effect.gen(function*() {
      yield* terminateGroup(pid, { graceMs: 500, killWaitMs: 2_000 })
      if (removed) return
      removed = true
      yield* runClient(client, binary, removeArgv(name), REMOVE_TIMEOUT_MS)
    })
}

/** Whether the session needs the egress bridge: the proxy is asked for and some host is allowed. */
const bridged = (execution: PreparedExecution) =>
  execution.egressProxy && (!execution.network.defaultDeny || execution.network.allowHosts.length > 0)

/** A 0700 directory for the proxy's socket, removed with the scope. */
const socketDirectory = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => mkdtemp(join(tmpdir(), "warrant-ctr-")),
    catch: (error) => failed(`could not create the egress socket's directory: ${String(error)}`)
  }),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const workspaceUser = (root: string) =>
  Effect.tryPromise({
    try: () => stat(root),
    catch: (error) => failed(`could not read the workspace's owner: ${String(error)}`)
  }).pipe(Effect.map((info) => `${info.uid}:${info.gid}`))

const makeRun = (egress: EgressProxy["Type"], client: Client, settings: Settings, options: ContainerOptions) =>
  Effect.fn("Container.run")(function*({ execution, secrets, workspace }: SessionRequest) {
    if (execution.agent === "pi") return yield* failed(piRefusal)
    const { binary, runtime } = client
    if (settings.image === undefined) return yield* failed(noImageReason)
    if (binary === undefined) return yield* failed(`${runtime} is not on PATH`)
    const dir = yield* workingDirectory(tier, workspace, execution.cwd)
    const root = yield* Effect.tryPromise({
      try: () => realpath(workspace),
      catch: () => failed("the workspace does not exist")
    })
    const user = options.user ?? (yield* workspaceUser(root))
    const capture = makeLogCapture(execution.logMaxBytes)

    // As in the process tier: the proxy has its own scope, closed once the client is gone so
    // its decisions stream ends; on interruption the session's scope closes it.
    const proxyScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    let egressSocket: string | undefined
    let collector: Fiber.Fiber<Chunk.Chunk<EgressDecision>> | undefined
    if (bridged(execution)) {
      const socketDir = yield* Scope.extend(socketDirectory, proxyScope)
      const proxy = yield* egress.start(execution.network, { socketPath: join(socketDir, "egress.sock") }).pipe(
        Scope.extend(proxyScope),
        Effect.mapError((error) => failed(`the egress proxy could not start: ${error.message}`))
      )
      collector = yield* Effect.fork(Stream.runCollect(proxy.decisions))
      egressSocket = proxy.socketPath
    }

    const env = yield* Either.match(
      containerEnv({
        prepared: execution.env,
        secrets,
        proxyUrl: egressSocket === undefined ? undefined : bridgedProxyUrl,
        clientNames: Object.keys(client.env)
      }),
      { onLeft: (reason) => Effect.fail(failed(reason)), onRight: Effect.succeed }
    )
    const { args, file } = commandLine(execution.command)
    const name = containerName(randomBytes(8))
    const argv = yield* Either.match(
      runArgv({
        runtime,
        name,
        image: settings.image,
        workspace: root,
        cwd: relative(root, dir),
        user,
        pidsLimit: settings.pidsLimit,
        memory: settings.memory,
        cpus: settings.cpus,
        env,
        egressSocket,
        node: options.node ?? "node",
        command: [file, ...args]
      }),
      { onLeft: (reason) => Effect.fail(failed(reason)), onRight: Effect.succeed }
    )
    const outcome = yield* runChild({
      file: binary,
      args: argv,
      cwd: root,
      env: { ...client.env, ...env.values },
      capture,
      stop: stopContainer(client, binary, name)
    }, execution.timeoutMs)

    yield* Scope.close(proxyScope, Exit.void)
    const network = collector === undefined ? [] : Chunk.toReadonlyArray(yield* Fiber.join(collector))
    const redactor = makeRedactor(secrets.map((secret) => ({ name: secret.name, value: Redacted.value(secret.value) })))
    const { log, redactions, truncated } = finishLog(capture, redactor, execution.logMaxBytes)
    if (!outcome.started) return yield* failed(`the ${runtime} client could not be started: ${runtimeReason(log)}`)
    // 125 is the runtime's own failure (no engine, no image, refused flags) or the bridge's —
    // never the agent's exit code. A command that itself exits 125 is refused the same way:
    // the two cannot be told apart, and the safe reading is that nothing ran as asked.
    if (!outcome.timedOut && outcome.exitCode === RUNTIME_FAILED_EXIT_CODE) {
      return yield* failed(`${runtime} could not run the container (exit 125): ${runtimeReason(log)}`)
    }
    return { exitCode: outcome.exitCode, log, truncated, timedOut: outcome.timedOut, redactions, network }
  })

/** The container tier over the egress proxy service. */
export const make = (options: ContainerOptions = {}): Effect.Effect<SessionBackend, never, EgressProxy> =>
  Effect.gen(function*() {
    const egress = yield* EgressProxy
    const configured = yield* Config.option(Config.nonEmptyString("WARRANT_CONTAINER_IMAGE")).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    const settings: Settings = {
      image: options.image ?? Option.getOrUndefined(configured),
      pidsLimit: options.pidsLimit ?? DEFAULT_PIDS_LIMIT,
      memory: options.memory ?? DEFAULT_MEMORY,
      cpus: options.cpus
    }
    const client = yield* Effect.sync(() => resolveClient(options))
    const probe = yield* Effect.cached(makeProbe(client, settings, options))
    const unsupported = (execution: PreparedExecution): string | undefined =>
      execution.agent === "pi" ? piRefusal : settings.image === undefined ? noImageReason : undefined
    return { tier, probe, capability, unsupported, run: makeRun(egress, client, settings, options) }
  })

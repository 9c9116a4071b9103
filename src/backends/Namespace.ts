/**
 * The namespace tier: the execution runs under bubblewrap in fresh user, mount, PID, network,
 * IPC and UTS namespaces, seeing only the base system and its workspace, with a per-session
 * process cap. Its network namespace has no route out but, when the policy allows hosts, the
 * egress bridge to the session's proxy — so read, write, network and env are enforced.
 */
import { chown, mkdtemp, realpath, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Chunk, Effect, ExecutionStrategy, Exit, Fiber, Redacted, Scope, Stream } from "effect"
import type { EgressDecision } from "../egress/EgressDecision.js"
import { EgressProxy } from "../egress/EgressProxy.js"
import type { NetworkPolicy } from "../protocol/Network.js"
import { piRefusal } from "./Agents.js"
import { runChild, SPAWN_FAILED_EXIT_CODE, stopGroup } from "./Child.js"
import { bridgeCommand, bridgeUrl } from "./EgressBridge.js"
import type { PreparedExecution } from "./Execution.js"
import { finishLog, makeLogCapture } from "./LogCapture.js"
import {
  bwrapArgs,
  bwrapComplaints,
  encodeArgs,
  launcher,
  type Limits,
  parseStatus,
  SANDBOX_HOME,
  SANDBOX_PATH,
  unencodable
} from "./NamespaceArgv.js"
import { currentEnvironment, describeHostPath, detect, type Environment, type NamespaceHost, trial } from "./NamespaceHost.js"
import { buildEnv, commandLine } from "./ProcessEnv.js"
import { makeRedactor } from "./Redaction.js"
import { type Capability, type Readiness, type SessionBackend, SessionFailed, type SessionRequest } from "./SessionBackend.js"
import { DEFAULT_UID_RANGE, makeUidPool, type UidRange } from "./UidPool.js"
import { workingDirectory } from "./WorkingDirectory.js"
import { lendWorkspace, unreachableAncestor } from "./WorkspaceOwnership.js"

export const tier = "namespace" as const

/** Command is attested: every binary visible in the sandbox can be run by a shell. */
export const capability: Capability = {
  env: "enforced",
  command: "attested",
  network: "enforced",
  read: "enforced",
  write: "enforced"
}

export const unsupported = (execution: PreparedExecution): string | undefined =>
  execution.agent === "pi" ? piRefusal : undefined

export interface NamespaceOptions {
  /** RLIMIT_NPROC per session (threads count too). Default 256. */
  readonly maxProcesses?: number
  /** RLIMIT_AS per process in bytes; Node reserves several GiB of address space, so leave room. */
  readonly maxAddressSpaceBytes?: number
  /** Size cap of the sandbox's fresh `/tmp`. Default 256 MiB. */
  readonly tmpBytes?: number
  /** The uids a root runner lends to sessions, one per concurrent session. */
  readonly uids?: UidRange
  /** What the probe inspects; the real host unless a test says otherwise. */
  readonly environment?: Environment
}

export const DEFAULT_MAX_PROCESSES = 256
export const DEFAULT_TMP_BYTES = 256 * 1024 * 1024

const failed = (reason: string) => new SessionFailed({ tier, reason })

/** Whether the policy lets anything out at all; with nothing allowed there is no bridge. */
export const allowsEgress = (network: NetworkPolicy): boolean =>
  !network.defaultDeny || network.allowHosts.length > 0 || (network.allowAddresses ?? []).length > 0

/** bwrap stops its namespace with itself (--die-with-parent, PID 1 gone), so no grace is needed. */
const STOP = stopGroup({ graceMs: 100, killWaitMs: 2_000 })

const sessionDirectory = (owner: number | undefined) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = await mkdtemp(join(tmpdir(), "warrant-ns-"))
        // bubblewrap runs as the session's uid and must reach the socket's source path.
        if (owner !== undefined) await chown(dir, owner, owner)
        return dir
      },
      catch: (error) => failed(`the session directory could not be created: ${String(error)}`)
    }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

/** The reason a sandbox that never ran its command gives, or undefined when it ran. */
const notRunReason = (log: string): string => {
  const said = bwrapComplaints(log)
  return said.length > 0 ? said.join("; ") : "bubblewrap ended before starting the command, without saying why"
}

const makeRun = (egress: EgressProxy["Type"], host: NamespaceHost, limits: Limits, tmpBytes: number, lendUid: ReturnType<typeof makeUidPool>["lend"]) =>
  Effect.fn("Namespace.run")(function*({ execution, secrets, workspace }: SessionRequest) {
    if (execution.agent === "pi") return yield* failed(piRefusal)
    const cwd = yield* workingDirectory(tier, workspace, execution.cwd)
    const root = yield* Effect.tryPromise({ try: () => realpath(workspace), catch: () => failed("the workspace does not exist") })

    let dropTo: { uid: number; gid: number } | undefined
    if (host.root) {
      const uid = yield* lendUid
      if (uid === undefined) return yield* failed("every sandbox uid in the configured range is in use; widen `uids` or lower concurrency")
      dropTo = { uid, gid: uid }
      const blocked = yield* unreachableAncestor(root)
      if (blocked !== undefined) {
        return yield* failed(
          `the sandbox user cannot reach the workspace ${root}: ${blocked} is not searchable by others; materialise workspaces under a directory others can traverse (such as ${tmpdir()})`
        )
      }
      yield* lendWorkspace(root, dropTo).pipe(Effect.mapError((error) => failed(error.message)))
    }

    const dir = yield* sessionDirectory(dropTo?.uid)
    const proxyScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    let socket: string | undefined
    let collector: Fiber.Fiber<Chunk.Chunk<EgressDecision>> | undefined
    if (execution.egressProxy && allowsEgress(execution.network)) {
      const socketPath = join(dir, "egress.sock")
      const proxy = yield* egress.start(execution.network, { socketPath }).pipe(
        Scope.extend(proxyScope),
        Effect.mapError((error) => failed(`the egress proxy could not start: ${error.message}`))
      )
      if (dropTo !== undefined) {
        const owner = dropTo
        yield* Effect.tryPromise({
          try: () => chown(socketPath, owner.uid, owner.gid),
          catch: (error) => failed(`the egress socket could not be handed to the sandbox: ${String(error)}`)
        })
      }
      collector = yield* Effect.fork(Stream.runCollect(proxy.decisions))
      socket = socketPath
    }

    const env = buildEnv({
      host: { PATH: SANDBOX_PATH, HOME: SANDBOX_HOME },
      prepared: execution.env,
      secrets,
      proxyUrl: socket === undefined ? undefined : bridgeUrl()
    })
    const { args, file } = commandLine(execution.command)
    const argv: readonly [string, ...Array<string>] = [file, ...args]
    const command = socket === undefined ? argv : bridgeCommand({ node: host.node, command: argv })
    const layout = {
      workspace: root,
      cwd,
      env,
      readOnly: socket === undefined ? [] : [host.node],
      tmpBytes,
      ...(socket === undefined ? {} : { socket })
    }
    const refused = unencodable(layout, command)
    if (refused !== undefined) return yield* failed(refused)

    const capture = makeLogCapture(execution.logMaxBytes)
    const [launcherFile, ...launcherArgs] = launcher(host.tools, limits, dropTo, command)
    const outcome = yield* runChild({
      file: launcherFile,
      args: launcherArgs,
      cwd: "/",
      env: {},
      capture,
      extra: [{ _tag: "Input", data: encodeArgs(bwrapArgs(layout, describeHostPath)) }, { _tag: "Output" }],
      stop: STOP
    }, execution.timeoutMs)

    yield* Scope.close(proxyScope, Exit.void)
    const network = collector === undefined ? [] : Chunk.toReadonlyArray(yield* Fiber.join(collector))
    if (!outcome.started) return yield* failed(`the sandbox launcher could not be started: ${capture.snapshot().text.trim()}`)

    let exitCode = outcome.exitCode
    const status = parseStatus(outcome.outputs[0] ?? "")
    if (!outcome.timedOut && status._tag === "NotRun") {
      const raw = capture.snapshot().text
      // The command itself could not be executed: the agent's failure, reported as a shell would.
      if (/^bwrap: execvp /m.test(raw)) exitCode = SPAWN_FAILED_EXIT_CODE
      else if (!capture.snapshot().truncated) return yield* failed(`bubblewrap could not set up the sandbox: ${notRunReason(raw)}`)
    }
    const redactor = makeRedactor(secrets.map((secret) => ({ name: secret.name, value: Redacted.value(secret.value) })))
    const { log, redactions, truncated } = finishLog(capture, redactor, execution.logMaxBytes)
    return { exitCode, log, truncated, timedOut: outcome.timedOut, redactions, network }
  })

/** The namespace tier over the egress proxy service; the probe runs a trial sandbox once. */
export const make = (options: NamespaceOptions = {}): Effect.Effect<SessionBackend, never, EgressProxy> =>
  Effect.gen(function*() {
    const egress = yield* EgressProxy
    const environment = options.environment ?? currentEnvironment()
    const limits: Limits = {
      maxProcesses: options.maxProcesses ?? DEFAULT_MAX_PROCESSES,
      ...(options.maxAddressSpaceBytes === undefined ? {} : { maxAddressSpaceBytes: options.maxAddressSpaceBytes })
    }
    const tmpBytes = options.tmpBytes ?? DEFAULT_TMP_BYTES
    const pool = makeUidPool(options.uids ?? DEFAULT_UID_RANGE)
    const found = detect(environment)
    const probe = yield* Effect.cached(
      "reasons" in found
        ? Effect.succeed<Readiness>({ ready: false, reasons: found.reasons })
        : Effect.scoped(Effect.flatMap(pool.lend, (uid) =>
          trial(found, limits, found.root && uid !== undefined ? { uid, gid: uid } : undefined, describeHostPath)))
    )
    const run: SessionBackend["run"] = "reasons" in found
      ? () => Effect.fail(failed(`the namespace tier is not ready: ${found.reasons.join("; ")}`))
      : makeRun(egress, found, limits, tmpBytes, pool.lend)
    return { tier, probe, capability, unsupported, run }
  })

/**
 * What the container tier hands to its runtime client, as pure functions: the `run` argv
 * (every isolation flag spelled out), the container's environment as `-e` flags plus the
 * values the client carries for them, the client's own minimal environment, the container
 * name, and the runtime's reason when it exits 125.
 *
 * A secret never appears in the argv, which every local user can read in /proc/<pid>/cmdline:
 * it is passed as `-e NAME` and its value sits in the client's environment, which only the
 * runner's user can read. Literal values are in the signed contract already and go as
 * `-e NAME=value`, so they cannot reconfigure the client.
 */
import { posix } from "node:path"
import { Either, Redacted } from "effect"
import { BRIDGE_FAILED_EXIT_CODE, bridgeCommand, bridgeUrl, SANDBOX_SOCKET } from "./EgressBridge.js"
import type { EnvValue } from "./Execution.js"
import { proxyVariables } from "./ProcessEnv.js"
import type { ReleasedSecret } from "./SessionBackend.js"

export type Runtime = "docker" | "podman"

/** Where the workspace is mounted in every container. */
export const WORKSPACE_TARGET = "/workspace"

/** The only writable path besides the workspace; it counts against the memory limit. */
export const TMPFS = "/tmp:rw,nosuid,nodev,size=256m"

/** HOME when the contract sets none: the image's user may not exist, and `/` is read-only. */
export const CONTAINER_HOME = "/tmp"

/**
 * Exit code of `docker run` / `podman run` when the runtime itself failed — and of the
 * egress bridge when it cannot listen, so one check covers both.
 */
export const RUNTIME_FAILED_EXIT_CODE: typeof BRIDGE_FAILED_EXIT_CODE = 125

export const containerName = (random: Uint8Array): string => `warrant-${Buffer.from(random).toString("hex")}`

/** The probe: the engine's version (empty when unreachable) for docker, `info` for podman. */
export const probeArgv = (runtime: Runtime): ReadonlyArray<string> =>
  runtime === "docker" ? ["version", "--format", "{{.Server.Version}}"] : ["info"]

export const removeArgv = (name: string): ReadonlyArray<string> => ["rm", "-f", name]

// ---------------------------------------------------------------------------------------------
// The client's environment
// ---------------------------------------------------------------------------------------------

/** Host variables the runtime client needs to find its engine, config and credential helpers. */
export const clientVariables = [
  "PATH",
  "HOME",
  "USER",
  "XDG_RUNTIME_DIR",
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
  "DOCKER_HOST",
  "DOCKER_CONTEXT",
  "DOCKER_CONFIG",
  "DOCKER_CERT_PATH",
  "DOCKER_TLS_VERIFY",
  "CONTAINER_HOST",
  "CONTAINER_CONNECTION",
  "CONTAINER_SSHKEY",
  "CONTAINERS_CONF",
  "CONTAINERS_STORAGE_CONF",
  "CONTAINERS_REGISTRIES_CONF",
  "REGISTRY_AUTH_FILE"
] as const

/** The client's environment: only `clientVariables` from the host. */
export const clientEnv = (host: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const name of clientVariables) {
    const value = host[name]
    if (value !== undefined) env[name] = value
  }
  return env
}

const reservedPrefixes = ["DOCKER_", "CONTAINER_", "CONTAINERS_", "PODMAN_", "BUILDAH_", "XDG_", "LD_", "DYLD_"]
const reservedNames = new Set([
  ...clientVariables,
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
  "NO_PROXY",
  "FTP_PROXY",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "TMPDIR",
  "GODEBUG",
  "GOGC",
  "GOMAXPROCS",
  "GOMEMLIMIT",
  "GOTRACEBACK"
])

/**
 * Whether a variable would steer the runtime client itself were a secret put under that name
 * in its environment: `DOCKER_HOST=tcp://elsewhere` would send every other secret to another
 * engine. Such a secret is refused, never passed.
 */
export const reservedForClient = (name: string): boolean =>
  reservedNames.has(name.toUpperCase()) || reservedPrefixes.some((prefix) => name.toUpperCase().startsWith(prefix))

// ---------------------------------------------------------------------------------------------
// The container's environment
// ---------------------------------------------------------------------------------------------

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

export interface ContainerEnv {
  /** `-e NAME=value` for literals, `-e NAME` for secrets, in the prepared order. */
  readonly flags: ReadonlyArray<string>
  /** What the client's environment must carry for the `-e NAME` flags: secret values. */
  readonly values: Readonly<Record<string, string>>
}

export interface ContainerEnvInput {
  readonly prepared: Readonly<Record<string, EnvValue>>
  readonly secrets: ReadonlyArray<ReleasedSecret>
  /** The proxy URL inside the container, when the session is bridged to the egress proxy. */
  readonly proxyUrl: string | undefined
  /** Names the client's environment already holds (a test's extra variables included). */
  readonly clientNames: ReadonlyArray<string>
}

/**
 * The container's variables: the prepared ones (a secret mapping whose secret was not released
 * is omitted), HOME if none was given, and the proxy variables last, replacing a prepared
 * variable of the same name. Left: why the environment cannot be passed safely.
 */
export const containerEnv = ({ clientNames, prepared, proxyUrl, secrets }: ContainerEnvInput): Either.Either<ContainerEnv, string> => {
  const proxy = proxyUrl === undefined ? {} : proxyVariables(proxyUrl)
  const released = new Map(secrets.map((secret) => [secret.name, secret.value] as const))
  const taken = new Set(clientNames)
  const flags: Array<string> = []
  const values: Record<string, string> = {}
  const literal = (name: string, value: string) => flags.push("-e", `${name}=${value}`)
  for (const [name, value] of Object.entries(prepared)) {
    if (!VARIABLE_NAME.test(name)) return Either.left(`the variable name ${JSON.stringify(name)} cannot be passed to a container`)
    if (Object.hasOwn(proxy, name)) continue
    if (value._tag === "Literal") {
      if (value.value.includes("\u0000")) return Either.left(`the value of ${name} holds a NUL byte, which no environment variable can carry`)
      literal(name, value.value)
      continue
    }
    const secret = released.get(value.secret)
    if (secret === undefined) continue
    if (reservedForClient(name) || taken.has(name)) {
      return Either.left(`the secret for ${name} is refused: a variable of that name would configure the container runtime client itself`)
    }
    const text = Redacted.value(secret)
    // spawn would refuse it with an error message that quotes the value, escaped past redaction.
    if (text.includes("\u0000")) return Either.left(`the secret for ${name} holds a NUL byte, which no environment variable can carry`)
    flags.push("-e", name)
    values[name] = text
  }
  if (!Object.hasOwn(prepared, "HOME")) literal("HOME", CONTAINER_HOME)
  for (const [name, value] of Object.entries(proxy)) literal(name, value)
  return Either.right({ flags, values })
}

// ---------------------------------------------------------------------------------------------
// The run argv
// ---------------------------------------------------------------------------------------------

export interface RunSpec {
  readonly runtime: Runtime
  readonly name: string
  readonly image: string
  /** The workspace's real path on the host. */
  readonly workspace: string
  /** The working directory relative to the workspace ("" or "." for its root). */
  readonly cwd: string
  readonly user: string
  readonly pidsLimit: number
  readonly memory: string
  readonly cpus: number | undefined
  readonly env: ContainerEnv
  /** The egress proxy's Unix socket on the host, when the session is bridged to it. */
  readonly egressSocket: string | undefined
  /** The image's node binary, which runs the egress bridge. */
  readonly node: string
  readonly command: readonly [string, ...Array<string>]
}

const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/
const MEMORY = /^[1-9][0-9]*[bkmgBKMG]?$/
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/

export interface Settings {
  readonly image: string
  /** Undefined: the workspace owner's, known only per session. */
  readonly user: string | undefined
  readonly pidsLimit: number
  readonly memory: string
  readonly cpus: number | undefined
}

/** Why the tier's settings cannot make a run argv, if they cannot. */
export const settingsProblems = (settings: Settings): ReadonlyArray<string> => {
  const problems: Array<string> = []
  if (settings.image.length > 512 || !IMAGE.test(settings.image)) {
    problems.push(`the image ${JSON.stringify(settings.image)} is not an image reference`)
  }
  if (settings.user !== undefined && !USER.test(settings.user)) problems.push(`the user ${JSON.stringify(settings.user)} is not uid[:gid] or name[:group]`)
  if (!Number.isSafeInteger(settings.pidsLimit) || settings.pidsLimit < 1) {
    problems.push(`the pids limit ${settings.pidsLimit} is not a positive integer`)
  }
  if (!MEMORY.test(settings.memory)) problems.push(`the memory limit ${JSON.stringify(settings.memory)} is not a size such as 512m or 1g`)
  if (settings.cpus !== undefined && !(Number.isFinite(settings.cpus) && settings.cpus > 0)) {
    problems.push(`the cpus limit ${settings.cpus} is not a positive number`)
  }
  return problems
}

/**
 * A host path inside `--mount`'s comma-separated fields: a comma or quote would start
 * another field (a second `source=` or `readonly=false`), so such a path is refused.
 */
const mountProblem = (path: string): string | undefined =>
  !posix.isAbsolute(path)
    ? `the mount source ${JSON.stringify(path)} is not absolute`
    : /[,"'\u0000-\u001f\u007f]/.test(path)
    ? `the host path ${JSON.stringify(path)} holds a comma, quote or control character and cannot be mounted safely`
    : undefined

/** The working directory in the container; never above the workspace mount. */
export const containerCwd = (cwd: string): Either.Either<string, string> => {
  const dir = posix.join(WORKSPACE_TARGET, cwd === "" ? "." : cwd)
  return dir === WORKSPACE_TARGET || dir.startsWith(`${WORKSPACE_TARGET}/`)
    ? Either.right(dir)
    : Either.left(`the working directory ${JSON.stringify(cwd)} is outside the workspace`)
}

/**
 * `run` with everything the tier enforces: no network (the egress bridge over a mounted Unix
 * socket is the only way out), no capabilities, no privilege gain, a process and memory cap
 * (no swap past it), a read-only root with a private /tmp, the workspace the only host path,
 * no log kept by the engine (the output may hold secrets), and `--init` to reap and forward
 * signals. Options end at the image, so a command can never be read as a flag.
 */
export const runArgv = (spec: RunSpec): Either.Either<ReadonlyArray<string>, string> => {
  const problems = settingsProblems(spec)
  if (problems.length > 0) return Either.left(problems.join("; "))
  const workspaceProblem = mountProblem(spec.workspace)
  if (workspaceProblem !== undefined) return Either.left(workspaceProblem)
  const socketProblem = spec.egressSocket === undefined ? undefined : mountProblem(spec.egressSocket)
  if (socketProblem !== undefined) return Either.left(socketProblem)
  const cwd = containerCwd(spec.cwd)
  if (Either.isLeft(cwd)) return Either.left(cwd.left)
  const command = spec.egressSocket === undefined
    ? spec.command
    : bridgeCommand({ node: spec.node, socket: SANDBOX_SOCKET, command: spec.command })
  return Either.right([
    "run",
    "--rm",
    "--init",
    "--name",
    spec.name,
    "--network",
    "none",
    // podman passes the client's proxy variables into the container unless told not to.
    ...(spec.runtime === "podman" ? ["--http-proxy=false"] : []),
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--read-only",
    "--tmpfs",
    TMPFS,
    "--pids-limit",
    String(spec.pidsLimit),
    "--memory",
    spec.memory,
    "--memory-swap",
    spec.memory,
    ...(spec.cpus === undefined ? [] : ["--cpus", String(spec.cpus)]),
    "--user",
    spec.user,
    "--log-driver",
    "none",
    "--mount",
    `type=bind,source=${spec.workspace},target=${WORKSPACE_TARGET}`,
    ...(spec.egressSocket === undefined ? [] : ["--mount", `type=bind,source=${spec.egressSocket},target=${SANDBOX_SOCKET},readonly`]),
    "-w",
    cwd.right,
    ...spec.env.flags,
    spec.image,
    ...command
  ])
}

/** The proxy URL a bridged container's programs use: the bridge on the container's loopback. */
export const bridgedProxyUrl = bridgeUrl()

// ---------------------------------------------------------------------------------------------
// Exit 125
// ---------------------------------------------------------------------------------------------

const MAX_REASON = 500
const FAILURE_LINE = /error|unable|cannot|denied|unauthori[sz]ed|no such|not found|warrant-bridge/i

/**
 * Why the runtime exited 125, from its output: the lines that name a failure ("Unable to find
 * image", "Error response from daemon: …", "Cannot connect to the Docker daemon"), at most
 * three, else the last line; never its usage hint. Give it the redacted log.
 */
export const runtimeReason = (log: string): string => {
  const lines = log.split("\n").map((line) => line.trim()).filter((line) => line.length > 0 && !/^See '.*--help'\.?$/.test(line))
  const failures = lines.filter((line) => FAILURE_LINE.test(line)).slice(0, 3)
  const reason = failures.length > 0 ? failures.join("; ") : lines.at(-1) ?? "it printed no reason"
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason
}

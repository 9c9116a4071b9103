/**
 * What the namespace tier hands to the kernel, as pure functions: the launcher chain
 * (`prlimit`, then `setpriv` when the runner is root, then `bwrap`) and the bubblewrap
 * options — passed through a pipe, never on a command line, because the environment they
 * set may carry secrets and every host user can read `/proc/<pid>/cmdline`. Only the
 * command itself (bubblewrap takes it from its real arguments) is on the command line.
 */
import { SANDBOX_SOCKET } from "./EgressBridge.js"

/** The host's base system, bound read-only when present (or recreated as the same symlink). */
export const BASE_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"] as const

/** The PATH a sandboxed command gets unless the execution sets its own. */
export const SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/** HOME inside the sandbox: on the fresh tmpfs, so dotfiles never land in the workspace. */
export const SANDBOX_HOME = "/tmp"

export type HostPath =
  | { readonly kind: "directory" }
  | { readonly kind: "file" }
  | { readonly kind: "symlink"; readonly target: string }

/** How a base path exists on the host; undefined when it does not. */
export type DescribePath = (path: string) => HostPath | undefined

export interface Layout {
  /** The workspace's real path, bound read-write at the same path; absent for the probe's trial. */
  readonly workspace: string | undefined
  /** The real working directory, inside the workspace. */
  readonly cwd: string
  /** The command's whole environment. */
  readonly env: Readonly<Record<string, string>>
  /** Host files outside the base paths the command needs (the Node binary for the bridge). */
  readonly readOnly: ReadonlyArray<string>
  /** The host path of the egress proxy's socket, bound at `SANDBOX_SOCKET`; absent: no route out. */
  readonly socket?: string
  /** Size cap of the fresh `/tmp`, and of `/dev/shm`. */
  readonly tmpBytes: number
}

const isUnder = (path: string, root: string) => path === root || path.startsWith(`${root}/`)

/** Base paths as they exist here: bound when real, the same symlink when a link (merged /usr). */
export const baseMounts = (describe: DescribePath): Array<string> =>
  BASE_PATHS.flatMap((path) => {
    const found = describe(path)
    if (found === undefined) return []
    return found.kind === "symlink" ? ["--symlink", found.target, path] : ["--ro-bind", path, path]
  })

/**
 * Every bubblewrap option (the command follows on the real command line). Order matters: bwrap applies them in turn, so the tmpfs comes
 * before the workspace bind (a workspace under /tmp is not masked), and the environment is
 * cleared before it is set.
 */
export const bwrapArgs = (layout: Layout, describe: DescribePath): Array<string> => {
  const args = [
    "--unshare-all",
    // Explicit, so nested user namespaces can be refused: no fresh capabilities inside.
    "--unshare-user",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--clearenv",
    ...baseMounts(describe)
  ]
  for (const path of layout.readOnly) {
    if (!BASE_PATHS.some((base) => isUnder(path, base))) args.push("--ro-bind", path, path)
  }
  args.push("--size", String(layout.tmpBytes), "--tmpfs", "/tmp")
  if (layout.workspace !== undefined) args.push("--bind", layout.workspace, layout.workspace)
  if (layout.socket !== undefined) args.push("--ro-bind", layout.socket, SANDBOX_SOCKET)
  // bubblewrap's own root and /dev are tmpfs mounts sized at half the host's memory: /dev/shm
  // gets its own capped tmpfs, then both are made read-only (device nodes stay usable).
  args.push("--proc", "/proc", "--dev", "/dev", "--size", String(layout.tmpBytes), "--tmpfs", "/dev/shm")
  args.push("--remount-ro", "/dev", "--remount-ro", "/", "--chdir", layout.cwd)
  for (const [name, value] of Object.entries(layout.env)) args.push("--setenv", name, value)
  return args
}

/** NUL-separated, as `bwrap --args FD` reads them. */
export const encodeArgs = (args: ReadonlyArray<string>): Uint8Array =>
  Buffer.from(args.map((arg) => `${arg}\0`).join(""), "utf8")

/** Why an argument cannot be passed through `--args`: a NUL would split it. */
export const unencodable = (layout: Layout, command: ReadonlyArray<string>): string | undefined => {
  const hasNul = (text: string) => text.includes("\0")
  if (command.some(hasNul)) return "the command contains a NUL character"
  for (const [name, value] of Object.entries(layout.env)) {
    if (hasNul(name) || name.includes("=") || name === "") return `the environment variable name ${JSON.stringify(name)} is invalid`
    if (hasNul(value)) return `the environment variable ${name} contains a NUL character`
  }
  return undefined
}

export interface Tools {
  readonly prlimit: string
  readonly setpriv: string
  readonly bwrap: string
}

export interface Limits {
  /** RLIMIT_NPROC: counted per user per user namespace, so per session. */
  readonly maxProcesses: number
  /** RLIMIT_AS in bytes, when set. */
  readonly maxAddressSpaceBytes?: number
}

/** Fd 3 carries the arguments in; fd 4 brings bubblewrap's JSON status out. */
export const ARGS_FD = 3
export const STATUS_FD = 4

/**
 * The launcher chain, ending in the command. Real root is exempt from RLIMIT_NPROC, so a root
 * runner drops to the session's unprivileged uid before bubblewrap creates the namespaces.
 */
export const launcher = (
  tools: Tools,
  limits: Limits,
  dropTo: { readonly uid: number; readonly gid: number } | undefined,
  command: readonly [string, ...Array<string>]
): readonly [string, ...Array<string>] => [
  tools.prlimit,
  `--nproc=${limits.maxProcesses}`,
  ...(limits.maxAddressSpaceBytes === undefined ? [] : [`--as=${limits.maxAddressSpaceBytes}`]),
  ...(dropTo === undefined
    ? []
    : [tools.setpriv, `--reuid=${dropTo.uid}`, `--regid=${dropTo.gid}`, "--clear-groups"]),
  tools.bwrap,
  "--args",
  String(ARGS_FD),
  "--json-status-fd",
  String(STATUS_FD),
  "--",
  ...command
]

export type Status =
  | { readonly _tag: "Exited"; readonly exitCode: number }
  /** The child was created but never reported an exit: setup or exec failed. */
  | { readonly _tag: "NotRun" }

/** Reads bubblewrap's JSON status lines; only an `exit-code` record means the command ran. */
export const parseStatus = (text: string): Status => {
  for (const line of text.split("\n")) {
    const trimmed = line.trim()
    if (trimmed === "") continue
    let record: unknown
    try {
      record = JSON.parse(trimmed)
    } catch {
      continue
    }
    if (typeof record === "object" && record !== null && "exit-code" in record) {
      const code = record["exit-code"]
      if (typeof code === "number" && Number.isInteger(code)) return { _tag: "Exited", exitCode: code }
    }
  }
  return { _tag: "NotRun" }
}

/** Bubblewrap's own complaints in the log (lines it prefixes with `bwrap:`). */
export const bwrapComplaints = (log: string): ReadonlyArray<string> =>
  log.split("\n").filter((line) => line.startsWith("bwrap: ")).map((line) => line.slice("bwrap: ".length))

/**
 * Whether this host can run namespace sessions, found out by really trying: Linux, the tools
 * on PATH (bubblewrap, prlimit, and setpriv when the runner is root), and a trial sandbox
 * that starts the runner's own Node binary — which the egress bridge needs — and exits 0.
 */
import { lstatSync, readlinkSync, realpathSync } from "node:fs"
import { Effect } from "effect"
import { runChild } from "./Child.js"
import { findOnPath } from "./OnPath.js"
import { makeLogCapture } from "./LogCapture.js"
import {
  type DescribePath,
  encodeArgs,
  launcher,
  type Limits,
  parseStatus,
  type Tools,
  bwrapArgs,
  bwrapComplaints
} from "./NamespaceArgv.js"
import type { Readiness } from "./SessionBackend.js"

export interface NamespaceHost {
  readonly tools: Tools
  /** The runner's Node binary, real path: the bridge runs on it inside the sandbox. */
  readonly node: string
  /** The runner is real root, so sessions drop to an unprivileged uid. */
  readonly root: boolean
}

/** The first executable `name` on `path`, as an absolute path. */
export const which = findOnPath

export const describeHostPath: DescribePath = (path) => {
  try {
    const info = lstatSync(path)
    if (info.isSymbolicLink()) return { kind: "symlink", target: readlinkSync(path) }
    return info.isDirectory() ? { kind: "directory" } : { kind: "file" }
  } catch {
    return undefined
  }
}

export interface Environment {
  readonly platform: NodeJS.Platform
  readonly path: string | undefined
  readonly root: boolean
  readonly node: string
}

export const currentEnvironment = (): Environment => ({
  platform: process.platform,
  path: process.env.PATH,
  root: process.getuid?.() === 0,
  node: realpathSync(process.execPath)
})

/** The host's tools, or every reason this host cannot run the tier. */
export const detect = (env: Environment): NamespaceHost | { readonly reasons: ReadonlyArray<string> } => {
  if (env.platform !== "linux") return { reasons: [`Linux namespaces are needed; this host is ${env.platform}`] }
  const bwrap = which("bwrap", env.path)
  const prlimit = which("prlimit", env.path)
  const setpriv = which("setpriv", env.path)
  const reasons: Array<string> = []
  if (bwrap === undefined) reasons.push("bubblewrap (bwrap) is not on PATH; install it (apt-get install -y bubblewrap)")
  if (prlimit === undefined) reasons.push("prlimit is not on PATH; install util-linux")
  if (env.root && setpriv === undefined) {
    reasons.push("setpriv is not on PATH (needed to drop root before the sandbox); install util-linux")
  }
  if (bwrap === undefined || prlimit === undefined || reasons.length > 0) return { reasons }
  return { tools: { bwrap, prlimit, setpriv: setpriv ?? "setpriv" }, node: env.node, root: env.root }
}

const TRIAL_TIMEOUT_MS = 10_000
const TRIAL_TMP_BYTES = 1 << 20

/** A sandbox built like a session's (no workspace, no network), running `node -e ""`. */
export const trial = (
  host: NamespaceHost,
  limits: Limits,
  dropTo: { readonly uid: number; readonly gid: number } | undefined,
  describe: DescribePath
): Effect.Effect<Readiness> =>
  Effect.gen(function*() {
    const args = bwrapArgs({
      workspace: undefined,
      cwd: "/",
      env: {},
      readOnly: [host.node],
      tmpBytes: TRIAL_TMP_BYTES
    }, describe)
    const capture = makeLogCapture(16_384)
    const [file, ...rest] = launcher(host.tools, limits, dropTo, [host.node, "-e", ""])
    const outcome = yield* runChild({
      file,
      args: rest,
      cwd: "/",
      env: {},
      capture,
      extra: [{ _tag: "Input", data: encodeArgs(args) }, { _tag: "Output" }]
    }, TRIAL_TIMEOUT_MS)
    const status = parseStatus(outcome.outputs[0] ?? "")
    if (status._tag === "Exited" && status.exitCode === 0) return { ready: true } as const
    const log = capture.snapshot().text.trim()
    const said = bwrapComplaints(log).join("; ") || log.slice(0, 400) || "no output"
    const how = outcome.timedOut
      ? `did not finish within ${TRIAL_TIMEOUT_MS / 1000} s`
      : status._tag === "Exited"
      ? `exited ${status.exitCode}`
      : `could not start (exit ${outcome.exitCode})`
    return { ready: false, reasons: [`a trial sandbox (bwrap --unshare-all … node -e "") ${how}: ${said}`] } as const
  })

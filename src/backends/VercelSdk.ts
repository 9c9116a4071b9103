/**
 * What the Vercel Sandbox tier needs from a sandbox — write files, run a command with its
 * output streamed, list and read the workdir, stop — and the thin adapter that provides it
 * over the real `@vercel/sandbox` SDK. A test double implements the same seam.
 *
 * The adapter cannot run without Vercel credentials; it is written against the SDK's
 * published types (3.5.0) and checked by the compiler, not by a live test.
 */
import { Redacted } from "effect"
import type { VercelCredentials } from "./VercelCredentials.js"
import type { CreateInput, VercelSource } from "./VercelCreate.js"
import { LISTING_SCRIPT } from "./VercelMirror.js"

export interface SandboxFile {
  /** Absolute path in the VM. */
  readonly path: string
  readonly content: Uint8Array
  readonly mode: number
}

export interface RunParams {
  readonly cmd: string
  readonly args: ReadonlyArray<string>
  /** Absolute directory in the VM. */
  readonly cwd: string
  /** The VM kills the command (SIGKILL) after this long, should the runner's own stop be lost. */
  readonly timeoutMs: number
  /** Aborted when the runner stops waiting: the command is then killed. */
  readonly signal: AbortSignal
  /** Each chunk of output as it arrives, in order. */
  readonly onOutput: (stream: "stdout" | "stderr", data: string) => void
}

export interface SandboxSession {
  readonly writeFiles: (files: ReadonlyArray<SandboxFile>, signal: AbortSignal) => Promise<void>
  readonly runCommand: (params: RunParams) => Promise<{ readonly exitCode: number }>
  /** What `LISTING_SCRIPT` prints for `dir` (see VercelMirror); untrusted. */
  readonly listFiles: (dir: string, signal: AbortSignal) => Promise<string>
  /** A file's bytes, or null when it is gone. */
  readonly readFile: (path: string, signal: AbortSignal) => Promise<Uint8Array | null>
  readonly stop: () => Promise<void>
}

export type CreateSandbox = (input: CreateInput, credentials: VercelCredentials, signal: AbortSignal) => Promise<SandboxSession>

/** A listing larger than this is refused rather than held in memory. */
export const MAX_LISTING_BYTES = 64 * 1024 * 1024

// ---------------------------------------------------------------------------------------------
// The adapter over @vercel/sandbox
// ---------------------------------------------------------------------------------------------

type Sdk = typeof import("@vercel/sandbox")
type SdkSandbox = Awaited<ReturnType<Sdk["Sandbox"]["create"]>>

const sdkSource = (source: Exclude<VercelSource, { readonly type: "snapshot" }>) =>
  "password" in source ? { ...source, password: Redacted.value(source.password) } : source

/** The SDK's create parameters: credentials always explicit, so it never looks for its own. */
const sdkParams = (input: CreateInput, credentials: VercelCredentials, signal: AbortSignal) => {
  const common = {
    token: Redacted.value(credentials.token),
    teamId: credentials.teamId,
    projectId: credentials.projectId,
    timeout: input.timeout,
    networkPolicy: input.networkPolicy,
    persistent: input.persistent,
    ...(input.resources === undefined ? {} : { resources: { vcpus: input.resources.vcpus } }),
    ...(input.tags === undefined ? {} : { tags: { ...input.tags } }),
    signal
  }
  if ("runtime" in input) {
    return { ...common, runtime: input.runtime, ...(input.source === undefined ? {} : { source: sdkSource(input.source) }) }
  }
  if ("image" in input) {
    return { ...common, image: input.image, ...(input.source === undefined ? {} : { source: sdkSource(input.source) }) }
  }
  return { ...common, source: { type: "snapshot" as const, snapshotId: input.source.snapshotId } }
}

/**
 * Runs detached and reads the log stream itself: the SDK's waiting form keeps all output
 * in memory, where the session caps it as it arrives. On abort the command is killed.
 */
const runDetached = async (sandbox: SdkSandbox, params: RunParams): Promise<{ readonly exitCode: number }> => {
  const { args, cmd, cwd, onOutput, signal, timeoutMs } = params
  const command = await sandbox.runCommand({ cmd, args: [...args], cwd, detached: true, timeoutMs, signal })
  const kill = () => void command.kill("SIGKILL").catch(() => undefined)
  signal.addEventListener("abort", kill, { once: true })
  try {
    for await (const line of command.logs({ signal })) onOutput(line.stream, line.data)
    const finished = await command.wait({ signal })
    return { exitCode: finished.exitCode }
  } finally {
    signal.removeEventListener("abort", kill)
  }
}

const session = (sandbox: SdkSandbox): SandboxSession => ({
  writeFiles: (files, signal) =>
    sandbox.writeFiles(files.map((file) => ({ path: file.path, content: file.content, mode: file.mode })), { signal }),
  runCommand: (params) => runDetached(sandbox, params),
  listFiles: async (dir, signal) => {
    const chunks: Array<string> = []
    let size = 0
    let errors = ""
    const controller = new AbortController()
    const stopAll = () => controller.abort()
    signal.addEventListener("abort", stopAll, { once: true })
    try {
      const { exitCode } = await runDetached(sandbox, {
        cmd: "sh",
        args: ["-c", LISTING_SCRIPT, "sh", dir],
        cwd: "/",
        timeoutMs: 10 * 60 * 1000,
        signal: controller.signal,
        onOutput: (stream, data) => {
          if (stream === "stderr") {
            errors = (errors + data).slice(0, 2_000)
            return
          }
          size += data.length
          if (size > MAX_LISTING_BYTES) controller.abort()
          else chunks.push(data)
        }
      })
      if (exitCode !== 0) throw new Error(`listing the workdir exited with ${exitCode}: ${errors.trim()}`)
      return chunks.join("")
    } catch (error) {
      if (size > MAX_LISTING_BYTES) throw new Error(`the workdir listing is larger than ${MAX_LISTING_BYTES} bytes`)
      throw error
    } finally {
      signal.removeEventListener("abort", stopAll)
    }
  },
  readFile: async (path, signal) => {
    const buffer = await sandbox.readFileToBuffer({ path }, { signal })
    return buffer === null ? null : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  },
  stop: async () => {
    await sandbox.stop()
  }
})

/** `Sandbox.create` from the real SDK, loaded on first use so a runner without this tier never imports it. */
export const createVercelSandbox: CreateSandbox = async (input, credentials, signal) => {
  const { Sandbox } = await import("@vercel/sandbox")
  return session(await Sandbox.create(sdkParams(input, credentials, signal)))
}

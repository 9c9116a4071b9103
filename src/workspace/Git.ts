/**
 * The system `git`, run as a scoped child with a hardened configuration: no system or global
 * config, no hooks, no fsmonitor, no credential prompts, no pager, and only the `file` transport
 * (bundles and local clones). Output is captured up to a cap; large artefacts (bundles, diffs)
 * are written by git itself to files the caller names.
 */
import { spawn } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import { Context, Effect, Layer, Schema } from "effect"

export class GitFailed extends Schema.TaggedError<GitFailed>()("GitFailed", {
  args: Schema.Array(Schema.String),
  exitCode: Schema.Number,
  stderr: Schema.String
}) {
  override get message() {
    const said = this.stderr.trim().split("\n").slice(-3).join("; ")
    return `git ${this.args.slice(0, 4).join(" ")} failed (exit ${this.exitCode})${said === "" ? "" : `: ${said}`}`
  }
}

/** Options that neutralise repository-controlled behaviour: a captured tree is untrusted input. */
export const HARDENING: ReadonlyArray<string> = [
  "-c", "core.hooksPath=/dev/null",
  "-c", "core.fsmonitor=false",
  "-c", "core.untrackedCache=false",
  "-c", "protocol.allow=never",
  "-c", "protocol.file.allow=always",
  "-c", "credential.helper=",
  "-c", "core.askPass=",
  "-c", "commit.gpgSign=false",
  "-c", "tag.gpgSign=false",
  "-c", "core.quotePath=false",
  "-c", "safe.directory=*"
]

/** A fixed identity for commits the workspace makes (a pull's branch), never the host user's. */
export const IDENTITY: Readonly<Record<string, string>> = {
  GIT_AUTHOR_NAME: "warrant",
  GIT_AUTHOR_EMAIL: "warrant@localhost",
  GIT_COMMITTER_NAME: "warrant",
  GIT_COMMITTER_EMAIL: "warrant@localhost"
}

export const gitEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: "/nonexistent",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_TERMINAL_PROMPT: "0",
  GIT_PAGER: "cat",
  GIT_OPTIONAL_LOCKS: "0",
  // A session could plant refs/replace/<base> to change what "the base" means.
  GIT_NO_REPLACE_OBJECTS: "1",
  LC_ALL: "C",
  ...IDENTITY
})

/** The environment that points git at a temporary index file instead of `.git/index`. */
export const withIndex = (indexFile: string): Record<string, string> => ({ GIT_INDEX_FILE: indexFile })

export interface RunOptions {
  /** Bytes written to git's stdin. */
  readonly input?: Uint8Array
  /** Most stdout kept; more is a GitFailed (default 64 MiB). */
  readonly maxOutputBytes?: number
  /** Exit codes that are not failures (e.g. 1 for `diff --quiet`). */
  readonly okCodes?: ReadonlyArray<number>
  readonly env?: Readonly<Record<string, string>>
  /**
   * Git's stdout goes to this file (created or truncated) instead of being kept; the result's
   * stdout is then empty. For output as large as the repository, such as `cat-file --batch`,
   * which through a pipe arrives in one small write per object.
   */
  readonly stdoutFile?: string
}

export interface GitResult {
  readonly stdout: Buffer
  readonly exitCode: number
}

const MAX_STDERR = 16_384

export class Git extends Context.Tag("warrant/workspace/Git")<Git, {
  readonly run: (cwd: string, args: ReadonlyArray<string>, options?: RunOptions) => Effect.Effect<GitResult, GitFailed>
}>() {}

const runGit = (cwd: string, args: ReadonlyArray<string>, options: RunOptions = {}): Effect.Effect<GitResult, GitFailed> =>
  Effect.async<GitResult, GitFailed>((resume) => {
    const maxOut = options.maxOutputBytes ?? 64 * 1024 * 1024
    const okCodes = options.okCodes ?? []
    const fail = (exitCode: number, stderr: string) => resume(Effect.fail(new GitFailed({ args: [...args], exitCode, stderr })))
    let child: ReturnType<typeof spawn>
    let outFd: number | undefined
    try {
      outFd = options.stdoutFile === undefined ? undefined : openSync(options.stdoutFile, "w")
      child = spawn("git", [...HARDENING, ...args], {
        cwd,
        env: { ...gitEnv(), ...options.env },
        stdio: [options.input === undefined ? "ignore" : "pipe", outFd ?? "pipe", "pipe"]
      })
    } catch (error) {
      fail(-1, error instanceof Error ? error.message : String(error))
      return
    } finally {
      // The child has its own copy of the descriptor.
      if (outFd !== undefined) closeSync(outFd)
    }
    const out: Array<Buffer> = []
    let outBytes = 0
    let overflow = false
    let err = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      outBytes += chunk.length
      if (outBytes > maxOut) {
        overflow = true
        child.kill("SIGKILL")
        return
      }
      out.push(chunk)
    })
    child.stderr!.on("data", (chunk: Buffer) => {
      if (err.length < MAX_STDERR) err += chunk.toString("utf8").slice(0, MAX_STDERR - err.length)
    })
    child.on("error", (error) => fail(-1, error.message))
    if (options.input !== undefined) {
      child.stdin!.on("error", () => {})
      child.stdin!.end(Buffer.from(options.input))
    }
    child.on("close", (code, signal) => {
      if (overflow) return fail(-1, `output exceeded ${maxOut} bytes`)
      const exitCode = code ?? 128
      if (exitCode !== 0 && !okCodes.includes(exitCode)) return fail(exitCode, signal === null ? err : `${err}killed by ${signal}`)
      resume(Effect.succeed({ stdout: Buffer.concat(out), exitCode }))
    })
    return Effect.sync(() => void child.kill("SIGKILL"))
  })

/** The system git. */
export const layer: Layer.Layer<Git> = Layer.succeed(Git, { run: runGit })

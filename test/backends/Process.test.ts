import { execFileSync } from "node:child_process"
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer } from "effect"
import type { PreparedCommand, PreparedExecution } from "../../src/backends/Execution.js"
import { truncationMarker } from "../../src/backends/LogCapture.js"
import * as Process from "../../src/backends/Process.js"
import type { ReleasedSecret, SessionBackend } from "../../src/backends/SessionBackend.js"
import * as EgressProxy from "../../src/egress/EgressProxy.js"
import * as Resolver from "../../src/egress/Resolver.js"
import { fieldsOf, httpUpstream } from "../egress/support/ProxyHarness.js"
import { argv, dead, execution, killLater, literal, released, secretRef, sh, tempDir } from "./support/Sessions.js"

// ---------------------------------------------------------------------------------------------
// Support
// ---------------------------------------------------------------------------------------------

/**
 * The tier over a real egress proxy whose resolver knows no name (every lookup is NXDOMAIN).
 * Built once, outside any test's scope: `EgressProxy.layer` captures the whole context it is
 * built in and provides it over each `start`, so a Scope present at build time (a scoped
 * test's) would own every proxy instead of the session's scope.
 */
const tierInstance: SessionBackend = Effect.runSync(
  Process.make.pipe(Effect.provide(EgressProxy.layer.pipe(Layer.provide(Resolver.layerStatic({})))))
)
const backend: Effect.Effect<SessionBackend> = Effect.succeed(tierInstance)

const run = (
  command: PreparedCommand,
  overrides: Partial<PreparedExecution> = {},
  secrets: ReadonlyArray<ReleasedSecret> = []
) =>
  Effect.gen(function*() {
    const workspace = yield* tempDir("process")
    const tier = yield* backend
    return yield* tier.run({ execution: execution(command, overrides), workspace, secrets })
  })

const guard = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, seconds = 3) =>
  Effect.timeoutFail(effect, {
    duration: `${seconds} seconds`,
    onTimeout: () => new Error(`${what} did not happen within ${seconds} s`)
  })

/** Runs `effect` and returns its value with the wall-clock milliseconds it took. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const value = yield* effect
    return { value, ms: (yield* Clock.currentTimeMillis) - start }
  })

const pids = (log: string) => log.trim().split(/\s+/).map(Number)

/** Whether a TCP connection to 127.0.0.1:port is refused. */
const refused = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code === "ECONNREFUSED")))
  })

/** The variable names in an `env` dump, sorted. */
const names = (log: string) =>
  log.split("\n").filter((line) => line.length > 0).map((line) => line.slice(0, line.indexOf("="))).sort()

const inherited = ["PATH", "HOME"].filter((name) => process.env[name] !== undefined)

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe("the process tier", () => {
  it.live("states what it enforces and probes sh as ready", () =>
    Effect.gen(function*() {
      const tier = yield* backend
      expect(tier.tier).toBe("process")
      expect(tier.capability).toEqual({ env: "attested", command: "enforced", network: "attested", read: "attested", write: "attested" })
      expect(yield* tier.probe).toEqual({ ready: true })
      expect(yield* tier.probe).toEqual({ ready: true })
    }))

  it.scopedLive("runs argv and shell executions but refuses pi", () =>
    Effect.gen(function*() {
      const tier = yield* backend
      const workspace = yield* tempDir("process")
      expect(tier.unsupported(execution(argv("true")))).toBeUndefined()
      expect(tier.unsupported(execution(sh("true")))).toBeUndefined()
      expect(tier.unsupported(execution(sh("true"), { agent: "pi" }))).toBe("pi is harness-only; no tier on this runner can run it")
      const error = yield* Effect.flip(tier.run({ execution: execution(sh("true"), { agent: "pi" }), workspace, secrets: [] }))
      expect(error._tag).toBe("SessionFailed")
      expect(error.reason).toBe("pi is harness-only; no tier on this runner can run it")
    }))

  it.scopedLive("a write lands in the workspace, in the execution's cwd", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("process")
      mkdirSync(join(workspace, "sub"))
      const tier = yield* backend
      const result = yield* tier.run({
        execution: execution(sh("printf hello > out.txt; pwd"), { cwd: "sub" }),
        workspace,
        secrets: []
      })
      expect(result).toEqual({
        exitCode: 0,
        log: `${join(workspace, "sub")}\n`,
        truncated: false,
        timedOut: false,
        redactions: {},
        network: []
      })
      expect(readFileSync(join(workspace, "sub", "out.txt"), "utf8")).toBe("hello")
    }))

  it.scopedLive("refuses a cwd outside the workspace, through a symlink, or missing", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("process")
      symlinkSync(tmpdir(), join(workspace, "escape"))
      writeFileSync(join(workspace, "file"), "")
      const tier = yield* backend
      const refuse = (cwd: string) =>
        Effect.map(Effect.flip(tier.run({ execution: execution(sh("true"), { cwd }), workspace, secrets: [] })), (e) => e.reason)
      expect(yield* refuse("..")).toBe(`the working directory ".." is outside the workspace`)
      expect(yield* refuse("escape")).toBe(`the working directory "escape" leads outside the workspace`)
      expect(yield* refuse("missing")).toBe(`the working directory "missing" does not exist in the workspace`)
      expect(yield* refuse("file")).toBe(`the working directory "file" is not a directory`)
    }))

  it.scopedLive("a program that cannot be found exits 127 with the reason in the log", () =>
    Effect.gen(function*() {
      const result = yield* run(argv("/nonexistent/warrant-test-program", "x"))
      expect(result).toMatchObject({ exitCode: 127, timedOut: false, truncated: false })
      expect(result.log).toBe(`warrant: could not start "/nonexistent/warrant-test-program": not found (ENOENT)\n`)
    }))

  it.scopedLive("a program that is not executable exits 127 with the reason in the log", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("process")
      writeFileSync(join(workspace, "script.sh"), "#!/bin/sh\necho ran\n")
      chmodSync(join(workspace, "script.sh"), 0o644)
      const tier = yield* backend
      const result = yield* tier.run({ execution: execution(argv("./script.sh")), workspace, secrets: [] })
      expect(result).toMatchObject({ exitCode: 127, timedOut: false })
      expect(result.log).toBe(`warrant: could not start "./script.sh": permission denied (EACCES)\n`)
    }))

  it.scopedLive("passes the command's exit code through", () =>
    Effect.gen(function*() {
      const result = yield* run(sh("echo out; echo err >&2; exit 3"))
      expect(result.exitCode).toBe(3)
      expect(result.log.split("\n").sort()).toEqual(["", "err", "out"])
    }))
})

describe("the process tier's environment", () => {
  it.scopedLive("a host variable is invisible; only PATH, HOME and the prepared env reach the child", () =>
    Effect.gen(function*() {
      const previous = process.env.WARRANT_TEST_HOST_SECRET
      process.env.WARRANT_TEST_HOST_SECRET = "host-only-value-7f3a"
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (previous === undefined) delete process.env.WARRANT_TEST_HOST_SECRET
          else process.env.WARRANT_TEST_HOST_SECRET = previous
        })
      )
      const result = yield* run(
        argv("env"),
        { env: { GREETING: literal("hello"), TOKEN_VAR: secretRef("API_TOKEN") } },
        [released("API_TOKEN", "tok-0123456789")]
      )
      expect(result.exitCode).toBe(0)
      expect(names(result.log)).toEqual([...inherited, "GREETING", "TOKEN_VAR"].sort())
      expect(result.log).not.toContain("host-only-value-7f3a")
      expect(result.log.split("\n")).toEqual(expect.arrayContaining([
        `PATH=${process.env.PATH}`,
        `HOME=${process.env.HOME}`,
        "GREETING=hello",
        "TOKEN_VAR=[REDACTED:API_TOKEN]"
      ]))
    }))

  it.scopedLive("through sh, the only addition is the PWD sh itself sets", () =>
    Effect.gen(function*() {
      const result = yield* run(sh("env"), { env: { GREETING: literal("hello") } })
      expect(names(result.log)).toEqual([...inherited, "GREETING", "PWD"].sort())
    }))

  it.scopedLive("with the egress proxy, the proxy variables point at it and the prepared env cannot override them", () =>
    Effect.gen(function*() {
      const result = yield* run(argv("env"), { egressProxy: true, env: { HTTP_PROXY: literal("http://elsewhere.test:1") } })
      expect(names(result.log)).toEqual(
        [...inherited, "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"].sort()
      )
      const values = Object.fromEntries(result.log.trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]))
      const url = values.HTTP_PROXY!
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect([values.HTTPS_PROXY, values.http_proxy, values.https_proxy, values.NO_PROXY, values.no_proxy]).toEqual([url, url, url, "", ""])
      // The session's proxy is gone once the session is.
      expect(yield* refused(Number(url.slice(url.lastIndexOf(":") + 1)))).toBe(true)
    }))

  it.scopedLive("a released secret is its variable, redacted from the log in every printed form", () =>
    Effect.gen(function*() {
      const script = [
        `printf 'plain=%s\\n' "$TOKEN_VAR"`,
        `printf 'b64=%s\\n' "$(printf %s "$TOKEN_VAR" | base64)"`,
        `printf 'hex=%s\\n' "$(printf %s "$TOKEN_VAR" | od -An -tx1 | tr -d ' \\n')"`
      ].join("; ")
      const result = yield* run(sh(script), { env: { TOKEN_VAR: secretRef("API_TOKEN") } }, [released("API_TOKEN", "s3cr3t-value-XYZ")])
      expect(result.exitCode).toBe(0)
      expect(result.log).toBe("plain=[REDACTED:API_TOKEN]\nb64=[REDACTED:API_TOKEN]\nhex=[REDACTED:API_TOKEN]\n")
      expect(result.redactions).toEqual({ API_TOKEN: 3 })
    }))

  it.scopedLive("a secret mapping whose secret was not released leaves the variable unset", () =>
    Effect.gen(function*() {
      const result = yield* run(
        sh(`if [ -z "\${MISSING_VAR+set}" ]; then echo absent; else echo present; fi`),
        { env: { MISSING_VAR: secretRef("NOT_RELEASED") } },
        [released("OTHER", "other-value")]
      )
      expect(result.log).toBe("absent\n")
    }))
})

describe("the process tier stops the whole process tree", () => {
  it.scopedLive("on timeout: exit 124, timed out, within about a second, the background child gone", () =>
    Effect.gen(function*() {
      const { ms, value: result } = yield* timed(guard(run(sh("sleep 100 & echo $!; sleep 100"), { timeoutMs: 300 }), "the timed-out session's end"))
      expect(result).toMatchObject({ exitCode: 124, timedOut: true, truncated: false })
      const [background] = pids(result.log)
      expect(background).toBeGreaterThan(1)
      expect(dead(background!)).toBe(true)
      expect(ms).toBeLessThan(1_500)
    }))

  it.scopedLive("on a shell that ignores SIGTERM: SIGKILL after the grace", () =>
    Effect.gen(function*() {
      const { ms, value: result } = yield* timed(guard(
        run(sh(`trap '' TERM; sleep 100 & echo $!; while :; do sleep 1; done`), { timeoutMs: 200 }),
        "the timed-out session's end"
      ))
      expect(result).toMatchObject({ exitCode: 124, timedOut: true })
      expect(dead(pids(result.log)[0]!)).toBe(true)
      expect(ms).toBeGreaterThanOrEqual(700)
      expect(ms).toBeLessThan(2_000)
    }))

  it.scopedLive("on interruption: the tree is killed and the proxy closed", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("process")
      const fifo = join(workspace, "ready")
      execFileSync("mkfifo", [fifo])
      const tier = yield* backend
      const fiber = yield* Effect.fork(Effect.scoped(tier.run({
        execution: execution(sh(`sleep 100 & echo "$$ $! \${HTTP_PROXY##*:}" > ready; wait`), { egressProxy: true }),
        workspace,
        secrets: []
      })))
      // The child writes once the reader opens the FIFO: the tree is running from here on.
      const [child, background, proxyPort] = pids(yield* guard(Effect.promise(() => readFile(fifo, "utf8")), "the child's pids"))
      expect(yield* refused(proxyPort!)).toBe(false)
      yield* guard(Fiber.interrupt(fiber), "the interrupted session's end")
      expect(dead(child!)).toBe(true)
      expect(dead(background!)).toBe(true)
      expect(yield* refused(proxyPort!)).toBe(true)
    }))

  it.scopedLive("at the log cap: truncated at the cap plus the marker, the tree killed", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(sh("sleep 100 & echo $!; yes"), { logMaxBytes: 1_000 }), "the capped session's end")
      expect(result).toMatchObject({ truncated: true, timedOut: false, exitCode: 143 })
      expect(result.log.length).toBe(1_000 + truncationMarker(1_000).length)
      expect(result.log.endsWith(truncationMarker(1_000))).toBe(true)
      expect(result.log.slice(0, 1_000)).toMatch(/^\d+\n(y\n)+y?$/)
      expect(dead(pids(result.log.split("\n")[0]!)[0]!)).toBe(true)
    }))

  it.scopedLive("a background grandchild holding the output open: the session ends with the child, the grandchild killed", () =>
    Effect.gen(function*() {
      const result = yield* guard(run(sh("sleep 100 & echo $!")), "the session's end")
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, truncated: false })
      expect(dead(pids(result.log)[0]!)).toBe(true)
    }))

  it.scopedLive("a grandchild that left the group (setsid) and holds the output open does not keep the session alive", () =>
    Effect.gen(function*() {
      const { ms, value: result } = yield* timed(guard(run(sh("setsid sleep 100 & echo $!")), "the session's end"))
      const [escaped] = pids(result.log)
      yield* killLater(escaped!)
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, truncated: false })
      expect(result.log).toBe(`${escaped}\n`)
      expect(ms).toBeLessThan(1_500)
    }))
})

describe("the process tier's network", () => {
  it.scopedLive("an allowed upstream answers through the proxy; a denied host gets 403; both are recorded", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const target = `127.0.0.1:${upstream.port}`
      const curl = (url: string) => `curl -sS -o /dev/null -w '%{http_code}\\n' ${url}`
      const result = yield* guard(run(sh(`${curl(`http://${target}/`)}; ${curl("http://denied.test/")}`), {
        egressProxy: true,
        network: { defaultDeny: true, allowHosts: [target], allowAddresses: ["127.0.0.1"] }
      }), "the curl session's end", 10)
      expect(result.log).toBe("200\n403\n")
      expect(upstream.requests.map((r) => r.url)).toEqual(["/"])
      expect(result.network).toHaveLength(2)
      // The allowed request is recorded when its connection closes, so the order is not pinned.
      const allowed = result.network.find((d) => d.decision === "allowed")
      const blocked = result.network.find((d) => d.decision === "blocked")
      expect(allowed && fieldsOf(allowed)).toEqual({
        kind: "http",
        host: "127.0.0.1",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: allowed?.bytesDown,
        upstreamError: undefined
      })
      expect(allowed?.bytesDown).toBeGreaterThan(0)
      expect(blocked && fieldsOf(blocked)).toEqual({
        kind: "http",
        host: "denied.test",
        port: 80,
        decision: "blocked",
        reason: "not-allowlisted",
        resolvedAddress: undefined,
        bytesUp: undefined,
        bytesDown: undefined,
        upstreamError: undefined
      })
    }))
})

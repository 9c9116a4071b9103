import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { Socket } from "node:net"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, type Scope } from "effect"
import type { PreparedExecution } from "../../src/backends/Execution.js"
import * as Hermetic from "../../src/backends/Hermetic.js"
import { truncationMarker } from "../../src/backends/LogCapture.js"
import type { ReleasedSecret, SessionBackend } from "../../src/backends/SessionBackend.js"
import * as Resolver from "../../src/egress/Resolver.js"
import type { NetworkPolicy } from "../../src/protocol/Network.js"
import { httpUpstream } from "../egress/support/ProxyHarness.js"
import { execution as executionOf, literal, released, secretRef, sh, tempDir } from "./support/Sessions.js"

/** Hermetic sessions are shell scripts only. */
const execution = (script: string, overrides: Partial<PreparedExecution> = {}) => executionOf(sh(script), overrides)

// ---------------------------------------------------------------------------------------------
// Support
// ---------------------------------------------------------------------------------------------

const runIn = (
  workspace: string,
  exec: PreparedExecution,
  secrets: ReadonlyArray<ReleasedSecret> = [],
  backend: Effect.Effect<SessionBackend> = Hermetic.make
) => Effect.flatMap(backend, (tier) => tier.run({ execution: exec, workspace, secrets }))

const run = (script: string, overrides: Partial<PreparedExecution> = {}, secrets: ReadonlyArray<ReleasedSecret> = []) =>
  Effect.flatMap(tempDir("hermetic"), (workspace) => runIn(workspace, execution(script, overrides), secrets))

/** Only 127.0.0.1:port is allowed, and its loopback address explicitly so. */
const loopbackOnly = (port: number): NetworkPolicy => ({
  defaultDeny: true,
  allowHosts: [`127.0.0.1:${port}`],
  allowAddresses: ["127.0.0.1"]
})

/** A loopback server answering every request with a redirect to `location`. */
const redirector = (location: string): Effect.Effect<number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: Server; sockets: Set<Socket> }>((resume) => {
      const sockets = new Set<Socket>()
      const server = createServer((_request, response) => {
        response.writeHead(302, { location, "content-length": 0 })
        response.end()
      })
      server.on("connection", (socket: Socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
      })
      server.listen({ host: "127.0.0.1", port: 0 }, () => resume(Effect.succeed({ server, sockets })))
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ server }) => (server.address() as { port: number }).port))

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe("the hermetic tier", () => {
  it.live("is ready when just-bash runs, and enforces every dimension", () =>
    Effect.gen(function*() {
      const tier = yield* Hermetic.make
      expect(tier.tier).toBe("hermetic")
      expect(yield* tier.probe).toEqual({ ready: true })
      expect(tier.capability).toEqual({
        read: "enforced",
        write: "enforced",
        command: "enforced",
        network: "enforced",
        env: "enforced"
      })
    }))

  it.live("runs shell scripts only and refuses the pi agent", () =>
    Effect.gen(function*() {
      const tier = yield* Hermetic.make
      const argv = execution("unused", { command: { kind: "argv", argv: ["ls", "-la"] } })
      expect(tier.unsupported(argv)).toBe("the hermetic tier runs shell scripts only")
      expect(tier.unsupported(execution("echo hi", { agent: "pi" }))).toBe(
        "pi is harness-only; no tier on this runner can run it"
      )
      expect(tier.unsupported(execution("echo hi"))).toBeUndefined()
    }))

  it.scopedLive("refuses to run an argv execution it was handed anyway", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("hermetic")
      const argv = execution("unused", { command: { kind: "argv", argv: ["ls"] } })
      const exit = yield* Effect.exit(runIn(workspace, argv))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "SessionFailed",
        tier: "hermetic",
        reason: "the hermetic tier runs shell scripts only"
      })))
    }))
})

describe("the hermetic filesystem", () => {
  it.scopedLive("a write lands in the workspace on disk", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("hermetic")
      const result = yield* runIn(workspace, execution("echo hello > out.txt && mkdir -p sub && printf 'x' > sub/y.txt && cat out.txt"))
      expect(result).toEqual({ exitCode: 0, log: "hello\n", truncated: false, timedOut: false, redactions: {}, network: [] })
      expect(readFileSync(join(workspace, "out.txt"), "utf8")).toBe("hello\n")
      expect(readFileSync(join(workspace, "sub", "y.txt"), "utf8")).toBe("x")
    }))

  it.scopedLive("the working directory is the execution's cwd inside the workspace", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("hermetic")
      mkdirSync(join(workspace, "pkg"))
      const result = yield* runIn(workspace, execution("pwd; echo here > here.txt", { cwd: "pkg" }))
      expect(result.log).toBe("/pkg\n")
      expect(readFileSync(join(workspace, "pkg", "here.txt"), "utf8")).toBe("here\n")
    }))

  it.scopedLive("a missing working directory fails the session", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(run("pwd", { cwd: "absent" }))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "SessionFailed",
        reason: "the working directory \"absent\" is not a directory in the workspace"
      })))
    }))

  it.scopedLive("nothing outside the workspace can be read", () =>
    Effect.gen(function*() {
      const result = yield* run(`cat ../../etc/passwd 2>&1; echo "rc=$?"; cat /etc/passwd 2>&1; echo "rc=$?"`)
      expect(result.log).toBe(
        "cat: ../../etc/passwd: No such file or directory\nrc=1\n" +
          "cat: /etc/passwd: No such file or directory\nrc=1\n"
      )
      expect(result.exitCode).toBe(0)
    }))

  it.scopedLive("a symlink planted in the workspace does not lead out", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("hermetic")
      symlinkSync("/etc/passwd", join(workspace, "leak"))
      const result = yield* runIn(workspace, execution(`cat leak 2>&1; echo "rc=$?"`))
      expect(result.log).toBe("cat: leak: No such file or directory\nrc=1\n")
    }))

  it.scopedLive("/dev/null discards output without creating a file in the workspace", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("hermetic")
      const result = yield* runIn(workspace, execution(`echo gone > /dev/null; cat /dev/null; ls -A; echo done`))
      expect(result.log).toBe("done\n")
      expect(existsSync(join(workspace, "dev"))).toBe(false)
    }))
})

describe("the hermetic log", () => {
  it.scopedLive("holds stdout, then stderr: just-bash returns each stream whole", () =>
    Effect.gen(function*() {
      const result = yield* run("echo out; echo err >&2; echo out2; exit 3")
      expect(result).toEqual({ exitCode: 3, log: "out\nout2\nerr\n", truncated: false, timedOut: false, redactions: {}, network: [] })
    }))
})

describe("the hermetic environment", () => {
  it.scopedLive("a host variable is invisible; only the prepared ones exist", () =>
    Effect.gen(function*() {
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.env.WARRANT_HERMETIC_HOST_ONLY = "host-value"
        }),
        () => Effect.sync(() => delete process.env.WARRANT_HERMETIC_HOST_ONLY)
      )
      const result = yield* run(
        `echo "[\${WARRANT_HERMETIC_HOST_ONLY:-unset}] [$GREETING]"; printenv WARRANT_HERMETIC_HOST_ONLY || echo absent`,
        { env: { GREETING: literal("hi") } }
      )
      expect(result.log).toBe("[unset] [hi]\nabsent\n")
    }))

  it.scopedLive("a released secret is present as its variable and redacted from the log, base64 included", () =>
    Effect.gen(function*() {
      const result = yield* run(
        `echo "token=$API_TOKEN"; printf '%s' "$API_TOKEN" | base64; [ "$API_TOKEN" = "s3cr3t-value-42" ] && echo matches`,
        { env: { API_TOKEN: secretRef("deploy-token") } },
        [released("deploy-token", "s3cr3t-value-42")]
      )
      expect(result.log).toBe("token=[REDACTED:deploy-token]\n[REDACTED:deploy-token]\nmatches\n")
      expect(result.redactions).toEqual({ "deploy-token": 2 })
    }))

  it.scopedLive("a secret mapping whose secret was not released is absent", () =>
    Effect.gen(function*() {
      const result = yield* run(`echo "[\${MISSING-absent}]"`, { env: { MISSING: secretRef("never-released") } })
      expect(result.log).toBe("[absent]\n")
      expect(result.redactions).toEqual({})
    }))
})

describe("the hermetic limits", () => {
  it.scopedLive("an infinite loop is stopped by the timeout with 124, its earlier output kept", () =>
    Effect.gen(function*() {
      const result = yield* run("echo started; while true; do :; done", { timeoutMs: 300 })
      expect(result).toEqual({
        exitCode: 124,
        log: "started\nbash: execution exceeded execution deadline (300ms)\n",
        truncated: false,
        timedOut: true,
        redactions: {},
        network: []
      })
    }))

  it.scopedLive("output past the log cap stops the session with a truncated log", () =>
    Effect.gen(function*() {
      const result = yield* run("while true; do echo 0123456789; done", { logMaxBytes: 1000 })
      expect(result).toEqual({
        exitCode: 126,
        // The 91st line would pass the cap: the interpreter stops there and says so on stderr.
        log: "0123456789\n".repeat(90) + "bash: pipe" + truncationMarker(1000),
        truncated: true,
        timedOut: false,
        redactions: {},
        network: []
      })
    }))

  it.scopedLive("a single command whose output passes the cap is stopped, and the log says it was cut", () =>
    Effect.gen(function*() {
      const workspace = yield* tempDir("hermetic")
      const result = yield* runIn(workspace, execution(`seq 1 2000 > numbers.txt; echo "rc=$?"`, { logMaxBytes: 1000 }))
      expect(result).toEqual({
        exitCode: 126,
        log: "bash: seq: output size limit exceeded (1000 bytes)\n" + truncationMarker(1000),
        truncated: true,
        timedOut: false,
        redactions: {},
        network: []
      })
    }))

  it.scopedLive("unbounded recursion stops at the call-depth limit", () =>
    Effect.gen(function*() {
      const result = yield* run("f() { f; }; f")
      expect(result.exitCode).toBe(126)
      expect(result.log).toBe("bash: f: maximum recursion depth (100) exceeded, increase executionLimits.maxCallDepth\n")
    }))
})

describe("the hermetic network", () => {
  it.scopedLive("with no allowed host curl does not exist", () =>
    Effect.gen(function*() {
      const result = yield* run(`curl -s http://example.com/ 2>&1; echo "rc=$?"`)
      expect(result.log).toBe("bash: curl: command not found\nrc=127\n")
      expect(result.network).toEqual([])
    }))

  it.scopedLive("an allowlisted loopback upstream is reachable and recorded as allowed", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const result = yield* run(`curl -s http://127.0.0.1:${upstream.port}/hello?x=1`, { network: loopbackOnly(upstream.port) })
      expect(result.exitCode).toBe(0)
      const seen = JSON.parse(result.log) as { method: string; url: string; rawHeaders: Array<string> }
      expect(seen.method).toBe("GET")
      expect(seen.url).toBe("/hello?x=1")
      expect(seen.rawHeaders.slice(0, 2)).toEqual(["host", `127.0.0.1:${upstream.port}`])
      expect(result.network).toEqual([{
        id: 0,
        kind: "http",
        host: "127.0.0.1",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        detail: `matched "127.0.0.1:${upstream.port}", dialling 127.0.0.1`,
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(result.log)
      }])
    }))

  it.scopedLive("a host outside the allowlist is blocked and recorded as blocked", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const result = yield* run(`curl -s http://denied.example.com/; echo "rc=$?"`, { network: loopbackOnly(upstream.port) })
      expect(result.log).toBe("rc=7\n")
      expect(result.network).toEqual([{
        id: 0,
        kind: "http",
        host: "denied.example.com",
        port: 80,
        decision: "blocked",
        reason: "not-allowlisted",
        detail: "denied.example.com is not in the allowlist"
      }])
      expect(upstream.requests).toEqual([])
    }))

  it.scopedLive("a Host header naming another authority is blocked and recorded", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const result = yield* run(`curl -s -H 'Host: internal.example' http://127.0.0.1:${upstream.port}/; echo "rc=$?"`, {
        network: loopbackOnly(upstream.port)
      })
      expect(result.log).toBe("rc=7\n")
      expect(result.network).toEqual([{
        id: 0,
        kind: "http",
        host: "127.0.0.1",
        port: upstream.port,
        decision: "blocked",
        reason: "host-mismatch",
        detail: "the Host header names a different authority than the request target"
      }])
      expect(upstream.requests).toEqual([])
    }))

  it.scopedLive("an allowlisted host at a loopback address is refused unless allowAddresses lists it", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const result = yield* run(`curl -sS http://127.0.0.1:${upstream.port}/ 2>&1; echo "rc=$?"`, {
        network: { defaultDeny: true, allowHosts: [`127.0.0.1:${upstream.port}`] }
      })
      const detail = "127.0.0.1 resolves to 127.0.0.1, a loopback address in 127.0.0.0/8; list it in allowAddresses to allow it"
      expect(result.log).toBe(`curl: (7) Network access denied: ${detail}: http://127.0.0.1:${upstream.port}/\nrc=7\n`)
      expect(result.network).toEqual([{
        id: 0,
        kind: "http",
        host: "127.0.0.1",
        port: upstream.port,
        decision: "blocked",
        reason: "address-refused",
        detail,
        resolvedAddress: "127.0.0.1"
      }])
      expect(upstream.requests).toEqual([])
    }))

  it.scopedLive("a name is dialled at the one address that was resolved and checked", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const workspace = yield* tempDir("hermetic")
      // No system resolver knows this name: the request can only arrive through the pinned answer.
      const backend = Hermetic.makeWithResolver.pipe(Effect.provide(Resolver.layerStatic({ "upstream.test": ["127.0.0.1"] })))
      const result = yield* runIn(
        workspace,
        execution(`curl -s http://upstream.test:${upstream.port}/named`, {
          network: { defaultDeny: true, allowHosts: [`upstream.test:${upstream.port}`], allowAddresses: ["127.0.0.1"] }
        }),
        [],
        backend
      )
      const seen = JSON.parse(result.log) as { url: string; rawHeaders: Array<string> }
      expect(seen.url).toBe("/named")
      expect(seen.rawHeaders.slice(0, 2)).toEqual(["host", `upstream.test:${upstream.port}`])
      expect(result.network).toEqual([expect.objectContaining({
        host: "upstream.test",
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1"
      })])
    }))

  it.scopedLive("every redirect hop is decided: a hop outside the allowlist is blocked and recorded", () =>
    Effect.gen(function*() {
      const port = yield* redirector("http://elsewhere.example/stolen")
      const result = yield* run(`curl -sL http://127.0.0.1:${port}/start; echo "rc=$?"`, { network: loopbackOnly(port) })
      expect(result.log).toBe("rc=47\n")
      expect(result.network).toEqual([
        {
          id: 0,
          kind: "http",
          host: "127.0.0.1",
          port,
          decision: "allowed",
          reason: "allowlisted",
          detail: `matched "127.0.0.1:${port}", dialling 127.0.0.1`,
          resolvedAddress: "127.0.0.1",
          bytesUp: 0,
          bytesDown: 0
        },
        {
          id: 1,
          kind: "http",
          host: "elsewhere.example",
          port: 80,
          decision: "blocked",
          reason: "not-allowlisted",
          detail: "elsewhere.example is not in the allowlist"
        }
      ])
    }))

  it.scopedLive("a stalled request is stopped by the timeout", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const result = yield* run(`curl -s http://127.0.0.1:${upstream.port}/stall; echo after`, {
        network: loopbackOnly(upstream.port),
        timeoutMs: 300
      })
      expect(result.exitCode).toBe(124)
      expect(result.timedOut).toBe(true)
      expect(result.log).not.toContain("after")
      expect(result.network).toEqual([expect.objectContaining({
        decision: "allowed",
        upstreamError: "the session stopped the request"
      })])
    }))

  it.scopedLive("interrupting the session stops it and its request", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const workspace = yield* tempDir("hermetic")
      const fiber = yield* Effect.fork(runIn(
        workspace,
        execution(`curl -s http://127.0.0.1:${upstream.port}/stall; echo after > after.txt`, { network: loopbackOnly(upstream.port) })
      ))
      yield* upstream.received(1)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(existsSync(join(workspace, "after.txt"))).toBe(false)
    }))
})

import { spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer } from "effect"
import * as Container from "../../src/backends/Container.js"
import { clientEnv, type Runtime } from "../../src/backends/ContainerArgv.js"
import { BRIDGE_SOURCE } from "../../src/backends/EgressBridge.js"
import type { PreparedCommand, PreparedExecution } from "../../src/backends/Execution.js"
import { truncationMarker } from "../../src/backends/LogCapture.js"
import * as Select from "../../src/backends/Select.js"
import type { ReleasedSecret } from "../../src/backends/SessionBackend.js"
import * as EgressProxy from "../../src/egress/EgressProxy.js"
import * as Resolver from "../../src/egress/Resolver.js"
import { fieldsOf, httpUpstream } from "../egress/support/ProxyHarness.js"
import { argv, dead, execution, literal, released, secretRef, sh, tempDir } from "./support/Sessions.js"

// ---------------------------------------------------------------------------------------------
// Support
// ---------------------------------------------------------------------------------------------

/** One egress proxy service for every test; each session starts its own proxy from it. */
const egress = Effect.runSync(
  Effect.provide(EgressProxy.EgressProxy, EgressProxy.layer.pipe(Layer.provide(Resolver.layerStatic({}))))
)

const FAKE = fileURLToPath(new URL("./support/fake-runtime.mjs", import.meta.url))
const IMAGE = "warrant/test:1"

type Mode = "ok" | "no-daemon" | "no-image" | "unauthorized" | "hang"

interface Call {
  readonly argv: ReadonlyArray<string>
  readonly envNames: ReadonlyArray<string>
  readonly passed: Readonly<Record<string, string | null>>
}

/** A fake runtime client named `runtime` in a temp dir, recording every call it gets. */
const fakeRuntime = (mode: Mode = "ok", runtime: Runtime = "docker") =>
  Effect.gen(function*() {
    const dir = yield* tempDir("fake-runtime")
    chmodSync(FAKE, 0o755)
    const binary = join(dir, runtime)
    symlinkSync(FAKE, binary)
    const state = join(dir, "state")
    mkdirSync(state)
    const record = join(dir, "calls.jsonl")
    const variables = { FAKE_RUNTIME_RECORD: record, FAKE_RUNTIME_STATE: state, FAKE_RUNTIME_MODE: mode, FAKE_RUNTIME_NAME: runtime }
    const calls = (): ReadonlyArray<Call> =>
      existsSync(record)
        ? readFileSync(record, "utf8").trim().split("\n").map((line): Call => JSON.parse(line))
        : []
    const options: Container.ContainerOptions = {
      runtime,
      image: IMAGE,
      resolveBinary: (wanted) => (wanted === runtime ? binary : undefined),
      clientEnv: variables
    }
    /** The pid of the command the fake started for container `name`. */
    const containerPid = (name: string) => Number(readFileSync(join(state, `${name}.pid`), "utf8"))
    return { binary, calls, containerPid, options, variables }
  })

const tierOf = (options: Container.ContainerOptions) =>
  Container.make(options).pipe(Effect.provideService(EgressProxy.EgressProxy, egress))

/** A tier over a fresh fake runtime, with the defaults and a sessions runner. */
const setup = (mode: Mode = "ok", extra: Partial<Container.ContainerOptions> = {}) =>
  Effect.gen(function*() {
    const fake = yield* fakeRuntime(mode)
    const tier = yield* tierOf({ ...fake.options, ...extra })
    const workspace = realpathSync(yield* tempDir("container"))
    const run = (command: PreparedCommand, overrides: Partial<PreparedExecution> = {}, secrets: ReadonlyArray<ReleasedSecret> = []) =>
      tier.run({ execution: execution(command, overrides), workspace, secrets })
    return { fake, tier, workspace, run }
  })

const guard = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, seconds = 5) =>
  Effect.timeoutFail(effect, {
    duration: `${seconds} seconds`,
    onTimeout: () => new Error(`${what} did not happen within ${seconds} s`)
  })

/** The name the tier gave its container, from the recorded run. */
const nameOf = (call: Call | undefined) => {
  const argv = call?.argv ?? []
  return argv[argv.indexOf("--name") + 1] ?? "no name"
}

const owner = (path: string) => {
  const info = spawnSync("stat", ["-c", "%u:%g", path], { encoding: "utf8" })
  return info.stdout.trim()
}

/** Every flag the tier passes before the mounts, for a deny-all session with the defaults. */
const isolationFlags = (name: string, user: string) => [
  "run", "--rm", "--init", "--name", name,
  "--network", "none",
  "--cap-drop", "ALL",
  "--security-opt", "no-new-privileges",
  "--read-only",
  "--tmpfs", "/tmp:rw,nosuid,nodev,size=256m",
  "--pids-limit", "256",
  "--memory", "1g",
  "--memory-swap", "1g",
  "--user", user,
  "--log-driver", "none"
]

const withoutImageVariable = Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))

/** Whether a real engine answers on this host (then the "fails closed here" tests do not apply). */
const engineHere = (() => {
  const docker = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8", timeout: 5_000 })
  const podman = spawnSync("podman", ["info"], { encoding: "utf8", timeout: 5_000 })
  return (docker.status === 0 && docker.stdout.trim() !== "") || podman.status === 0
})()

// ---------------------------------------------------------------------------------------------
// Probe and selection
// ---------------------------------------------------------------------------------------------

describe("the container tier's probe", () => {
  it.scopedLive("states what it enforces; ready when the engine answers, and asks it once", () =>
    Effect.gen(function*() {
      const fake = yield* fakeRuntime()
      const tier = yield* tierOf(fake.options)
      expect(tier.tier).toBe("container")
      expect(tier.capability).toEqual({ read: "enforced", write: "enforced", network: "enforced", env: "enforced", command: "attested" })
      expect(yield* tier.probe).toEqual({ ready: true })
      expect(yield* tier.probe).toEqual({ ready: true })
      expect(fake.calls().map((call) => call.argv)).toEqual([["version", "--format", "{{.Server.Version}}"]])
    }))

  it.scopedLive("podman is probed with `podman info`", () =>
    Effect.gen(function*() {
      const fake = yield* fakeRuntime("ok", "podman")
      expect(yield* (yield* tierOf(fake.options)).probe).toEqual({ ready: true })
      expect(fake.calls().map((call) => call.argv)).toEqual([["info"]])
      const down = yield* fakeRuntime("no-daemon", "podman")
      expect(yield* (yield* tierOf(down.options)).probe).toEqual({
        ready: false,
        reasons: [
          `podman is installed (${down.binary}) but its service is not reachable: Error: unable to connect to Podman socket: dial unix /run/podman/podman.sock: connect: no such file or directory; check that \`podman info\` succeeds for the runner's user`
        ]
      })
    }))

  it.scopedLive("a docker client without an engine is not ready, and says what to do", () =>
    Effect.gen(function*() {
      const fake = yield* fakeRuntime("no-daemon")
      expect(yield* (yield* tierOf(fake.options)).probe).toEqual({
        ready: false,
        reasons: [
          `docker is installed (${fake.binary}) but its engine is not reachable: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?; start the Docker engine, or point DOCKER_HOST at a running one`
        ]
      })
    }))

  it.scopedLive("an engine that does not answer in time is not ready", () =>
    Effect.gen(function*() {
      const fake = yield* fakeRuntime("hang")
      const readiness = yield* guard((yield* tierOf({ ...fake.options, probeTimeoutMs: 200 })).probe, "the probe's timeout")
      expect(readiness).toEqual({
        ready: false,
        reasons: [`docker is installed (${fake.binary}) but its engine did not answer within 200 ms; start the Docker engine, or point DOCKER_HOST at a running one`]
      })
    }))

  it.live("no runtime on PATH: not ready, naming both; a named runtime missing is named", () =>
    Effect.gen(function*() {
      const none = yield* tierOf({ image: IMAGE, resolveBinary: () => undefined })
      expect(yield* none.probe).toEqual({
        ready: false,
        reasons: ["neither docker nor podman is on PATH; install one (and start its engine) to use the container tier"]
      })
      const podman = yield* tierOf({ runtime: "podman", image: IMAGE, resolveBinary: () => undefined })
      expect(yield* podman.probe).toEqual({ ready: false, reasons: ["podman is not on PATH; install it, or configure the other runtime"] })
    }))

  it.scopedLive("no image configured: not ready and unsupported, so selection refuses it with a CapabilityMismatch", () =>
    Effect.gen(function*() {
      const fake = yield* fakeRuntime()
      const { image: _, ...withoutImage } = fake.options
      const tier = yield* withoutImageVariable(tierOf(withoutImage))
      expect(yield* tier.probe).toEqual({ ready: false, reasons: [Container.noImageReason] })
      expect(tier.unsupported(execution(sh("true")))).toBe(Container.noImageReason)
      const error = yield* Effect.flip(Select.select("container", execution(sh("true"))).pipe(Effect.provide(Select.layer([Effect.succeed(tier)]))))
      expect(error._tag).toBe("CapabilityMismatch")
      expect(error.message).toBe(`the container tier cannot run the command agent: the tier is not ready on this host: ${Container.noImageReason}`)
      // The image may come from WARRANT_CONTAINER_IMAGE instead.
      const configured = yield* tierOf(withoutImage).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["WARRANT_CONTAINER_IMAGE", IMAGE]])))
      )
      expect(yield* configured.probe).toEqual({ ready: true })
    }))

  it.scopedLive("bad settings are reasons too", () =>
    Effect.gen(function*() {
      const fake = yield* fakeRuntime()
      const tier = yield* tierOf({ ...fake.options, image: "-x", memory: "much" })
      expect(yield* tier.probe).toEqual({
        ready: false,
        reasons: [`the image "-x" is not an image reference`, `the memory limit "much" is not a size such as 512m or 1g`]
      })
    }))

  it.live("pi is refused", () =>
    Effect.gen(function*() {
      const tier = yield* tierOf({ image: IMAGE, resolveBinary: () => undefined })
      expect(tier.unsupported(execution(argv("true")))).toBeUndefined()
      expect(tier.unsupported(execution(sh("true"), { agent: "pi" }))).toBe("pi is harness-only; no tier on this runner can run it")
    }))
})

describe.skipIf(engineHere)("the container tier on this host (no engine)", () => {
  it.live("the real probe reports not ready, and a session request fails closed", () =>
    Effect.gen(function*() {
      const tier = yield* tierOf({ image: "alpine:3" })
      const readiness = yield* tier.probe
      expect(readiness.ready).toBe(false)
      const reasons = readiness.ready ? [] : readiness.reasons
      expect(reasons).toHaveLength(1)
      expect(reasons[0]).toMatch(
        /^(docker is installed \(.+\) but its engine is not reachable: .+; start the Docker engine, or point DOCKER_HOST at a running one|podman is installed \(.+\) but its service is not reachable: .+|neither docker nor podman is on PATH; .+)$/
      )
      const error = yield* Effect.flip(Select.select("container", execution(sh("true"))).pipe(Effect.provide(Select.layer([Effect.succeed(tier)]))))
      expect(error._tag).toBe("CapabilityMismatch")
      expect(error.reason).toBe(`the tier is not ready on this host: ${reasons[0]}`)
    }))
})

// ---------------------------------------------------------------------------------------------
// Sessions through the fake runtime
// ---------------------------------------------------------------------------------------------

describe("container sessions", () => {
  it.scopedLive("a deny-all shell command: the exact argv, output and exit code through, the container removed by name", () =>
    Effect.gen(function*() {
      const { fake, run, workspace } = yield* setup()
      const result = yield* run(sh("printf hello > out.txt; echo out; echo err >&2; exit 3"))
      expect(result).toEqual({ exitCode: 3, log: expect.any(String), truncated: false, timedOut: false, redactions: {}, network: [] })
      expect(result.log.split("\n").sort()).toEqual(["", "err", "out"])
      expect(readFileSync(join(workspace, "out.txt"), "utf8")).toBe("hello")
      const [runCall, removeCall, ...rest] = fake.calls()
      const name = nameOf(runCall)
      expect(name).toMatch(/^warrant-[0-9a-f]{16}$/)
      expect(runCall?.argv).toEqual([
        ...isolationFlags(name, owner(workspace)),
        "--mount", `type=bind,source=${workspace},target=/workspace`,
        "-w", "/workspace",
        "-e", "HOME=/tmp",
        IMAGE,
        "sh", "-c", "printf hello > out.txt; echo out; echo err >&2; exit 3"
      ])
      expect(removeCall?.argv).toEqual(["rm", "-f", name])
      expect(rest).toEqual([])
    }))

  it.scopedLive("an argv command in a subdirectory, with a custom pids limit, memory, cpus and user", () =>
    Effect.gen(function*() {
      const { fake, run, workspace } = yield* setup("ok", { pidsLimit: 32, memory: "256m", cpus: 2, user: "1234:5678" })
      mkdirSync(join(workspace, "sub"))
      const result = yield* run(argv("pwd"), { cwd: "sub" })
      expect(result.exitCode).toBe(0)
      expect(result.log).toBe(`${join(workspace, "sub")}\n`)
      const name = nameOf(fake.calls()[0])
      expect(fake.calls()[0]?.argv).toEqual([
        "run", "--rm", "--init", "--name", name,
        "--network", "none",
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--read-only",
        "--tmpfs", "/tmp:rw,nosuid,nodev,size=256m",
        "--pids-limit", "32",
        "--memory", "256m",
        "--memory-swap", "256m",
        "--cpus", "2",
        "--user", "1234:5678",
        "--log-driver", "none",
        "--mount", `type=bind,source=${workspace},target=/workspace`,
        "-w", "/workspace/sub",
        "-e", "HOME=/tmp",
        IMAGE,
        "pwd"
      ])
    }))

  it.scopedLive("a secret is passed by name: its value only in the client's environment, redacted from the log", () =>
    Effect.gen(function*() {
      const previous = process.env.WARRANT_TEST_HOST_SECRET
      process.env.WARRANT_TEST_HOST_SECRET = "host-only-value-7f3a"
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (previous === undefined) delete process.env.WARRANT_TEST_HOST_SECRET
          else process.env.WARRANT_TEST_HOST_SECRET = previous
        })
      )
      const { fake, run } = yield* setup()
      const result = yield* run(
        sh(`printf '%s|%s|%s\\n' "$GREETING" "$TOKEN_VAR" "\${WARRANT_TEST_HOST_SECRET:-unset}"`),
        { env: { GREETING: literal("hello"), TOKEN_VAR: secretRef("API_TOKEN"), MISSING: secretRef("NOT_RELEASED") } },
        [released("API_TOKEN", "tok-0123456789")]
      )
      expect(result).toMatchObject({ exitCode: 0, log: "hello|[REDACTED:API_TOKEN]|unset\n", redactions: { API_TOKEN: 1 } })
      const [runCall, removeCall] = fake.calls()
      const argv = runCall?.argv ?? []
      expect(argv.slice(argv.indexOf("-w"), argv.indexOf(IMAGE))).toEqual([
        "-w", "/workspace", "-e", "GREETING=hello", "-e", "TOKEN_VAR", "-e", "HOME=/tmp"
      ])
      expect(JSON.stringify(argv)).not.toContain("tok-0123456789")
      expect(runCall?.passed).toEqual({ TOKEN_VAR: "tok-0123456789" })
      // The client's environment: what the runtime needs, the test's variables, the secret.
      const expected = [...Object.keys(clientEnv(process.env)), ...Object.keys(fake.variables), "TOKEN_VAR"].sort()
      expect(runCall?.envNames).toEqual(expected)
      // Stopping needs no secret.
      expect(removeCall?.envNames).toEqual([...Object.keys(clientEnv(process.env)), ...Object.keys(fake.variables)].sort())
    }))

  it.scopedLive("a secret under a name that would steer the client is refused before anything runs", () =>
    Effect.gen(function*() {
      const { fake, run } = yield* setup()
      const error = yield* Effect.flip(run(sh("true"), { env: { DOCKER_HOST: secretRef("HOST") } }, [released("HOST", "tcp://evil.test:2375")]))
      expect(error).toMatchObject({
        _tag: "SessionFailed",
        reason: "the secret for DOCKER_HOST is refused: a variable of that name would configure the container runtime client itself"
      })
      expect(fake.calls()).toEqual([])
    }))

  it.scopedLive("refuses pi, a cwd outside the workspace, and a missing client", () =>
    Effect.gen(function*() {
      const { fake, run, workspace } = yield* setup()
      expect(yield* Effect.flip(run(sh("true"), { agent: "pi" }))).toMatchObject({ reason: "pi is harness-only; no tier on this runner can run it" })
      expect(yield* Effect.flip(run(sh("true"), { cwd: ".." }))).toMatchObject({ reason: `the working directory ".." is outside the workspace` })
      expect(fake.calls()).toEqual([])
      const gone = yield* tierOf({ ...fake.options, resolveBinary: () => join(workspace, "no-such-docker") })
      const error = yield* Effect.flip(gone.run({ execution: execution(sh("true")), workspace, secrets: [] }))
      expect(error.reason).toBe(`the docker client could not be started: warrant: could not start "${join(workspace, "no-such-docker")}": not found (ENOENT)`)
    }))
})

describe("container sessions: the runtime's own failures (exit 125)", () => {
  const failure = (mode: Mode) =>
    Effect.gen(function*() {
      const { fake, run } = yield* setup(mode)
      const error = yield* Effect.flip(run(sh("echo never"), {}, [released("API_TOKEN", "tok-0123456789")]))
      expect(error._tag).toBe("SessionFailed")
      expect(fake.calls().map((call) => call.argv[0])).toEqual(["run", "rm"])
      return error.reason
    })

  it.scopedLive("an image that cannot be found or pulled", () =>
    Effect.map(failure("no-image"), (reason) =>
      expect(reason).toBe(
        "docker could not run the container (exit 125): Unable to find image 'warrant/test:1' locally; docker: Error response from daemon: pull access denied for warrant/test, repository does not exist or may require 'docker login'"
      )))

  it.scopedLive("registry credentials refused", () =>
    Effect.map(failure("unauthorized"), (reason) =>
      expect(reason).toBe(
        `docker could not run the container (exit 125): docker: Error response from daemon: Head "https://registry.example/v2/warrant/test:1/manifests/latest": unauthorized: authentication required`
      )))

  it.scopedLive("no engine", () =>
    Effect.map(failure("no-daemon"), (reason) =>
      expect(reason).toBe(
        "docker could not run the container (exit 125): docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
      )))

  it.scopedLive("a command that itself exits 125 is refused the same way, its words redacted", () =>
    Effect.gen(function*() {
      const { run } = yield* setup()
      const error = yield* Effect.flip(run(sh(`echo "error: $TOKEN_VAR"; exit 125`), { env: { TOKEN_VAR: secretRef("T") } }, [released("T", "tok-0123456789")]))
      expect(error.reason).toBe("docker could not run the container (exit 125): error: [REDACTED:T]")
    }))

  it.scopedLive("126 and 127 are the command's own exit codes", () =>
    Effect.gen(function*() {
      const { run, workspace } = yield* setup()
      expect((yield* run(argv("no-such-program-in-image"))).exitCode).toBe(127)
      writeFileSync(join(workspace, "script.sh"), "#!/bin/sh\necho ran\n")
      chmodSync(join(workspace, "script.sh"), 0o644)
      expect((yield* run(argv("./script.sh"))).exitCode).toBe(126)
    }))
})

describe("container sessions: stopping", () => {
  it.scopedLive("at the timeout: exit 124, the client stopped and the container removed", () =>
    Effect.gen(function*() {
      const { fake, run } = yield* setup()
      const result = yield* guard(run(sh("echo started; sleep 100"), { timeoutMs: 500 }), "the timed-out session's end")
      expect(result).toMatchObject({ exitCode: 124, timedOut: true, log: "started\n" })
      const [runCall, removeCall, ...rest] = fake.calls()
      const name = nameOf(runCall)
      expect(removeCall?.argv).toEqual(["rm", "-f", name])
      expect(rest).toEqual([])
      // The fake's container is in a process group of its own: only `rm -f` could stop it.
      expect(dead(fake.containerPid(name))).toBe(true)
    }))

  it.scopedLive("at the log cap: truncated, the client stopped and the container removed", () =>
    Effect.gen(function*() {
      const { fake, run } = yield* setup()
      const result = yield* guard(run(sh("yes"), { logMaxBytes: 1_000 }), "the capped session's end")
      expect(result).toMatchObject({ truncated: true, timedOut: false })
      expect(result.log.endsWith(truncationMarker(1_000))).toBe(true)
      const name = nameOf(fake.calls()[0])
      expect(fake.calls()[1]?.argv).toEqual(["rm", "-f", name])
      expect(dead(fake.containerPid(name))).toBe(true)
    }))

  it.scopedLive("on interruption: the container removed by name", () =>
    Effect.gen(function*() {
      const { fake, tier, workspace } = yield* setup()
      const fifo = join(workspace, "ready")
      spawnSync("mkfifo", [fifo])
      const fiber = yield* Effect.fork(Effect.scoped(tier.run({ execution: execution(sh("echo up > ready; sleep 100")), workspace, secrets: [] })))
      // The command writes once the reader opens the FIFO: the container is running from here on.
      expect(yield* guard(Effect.promise(() => readFile(fifo, "utf8")), "the container's start")).toBe("up\n")
      const name = nameOf(fake.calls()[0])
      const pid = fake.containerPid(name)
      expect(dead(pid)).toBe(false)
      yield* guard(Fiber.interrupt(fiber), "the interrupted session's end")
      expect(fake.calls().map((call) => call.argv)).toEqual([expect.arrayContaining(["run"]), ["rm", "-f", name]])
      expect(dead(pid)).toBe(true)
    }))
})

describe("container sessions: the network", () => {
  it.scopedLive("allowed hosts: only through the bridge to the session's proxy; a denied host gets 403; a direct dial fails", () =>
    Effect.gen(function*() {
      const { fake, run, workspace } = yield* setup()
      const upstream = yield* httpUpstream
      const target = `127.0.0.1:${upstream.port}`
      const curl = (url: string, more = "") => `curl -sS ${more} -o /dev/null -w '%{http_code}\\n' ${url} 2>/dev/null || echo failed`
      const script = [curl(`http://${target}/`), curl("http://denied.test/"), curl(`http://${target}/direct`, "--noproxy '*'")].join("; ")
      const result = yield* guard(run(sh(script), {
        egressProxy: true,
        network: { defaultDeny: true, allowHosts: [target], allowAddresses: ["127.0.0.1"] }
      }), "the curl session's end", 15)
      expect(result.log).toBe("200\n403\n000\nfailed\n")
      expect(upstream.requests.map((r) => r.url)).toEqual(["/"])
      const allowed = result.network.find((d) => d.decision === "allowed")
      const blocked = result.network.find((d) => d.decision === "blocked")
      expect(result.network).toHaveLength(2)
      expect(allowed && fieldsOf(allowed)).toMatchObject({ kind: "http", host: "127.0.0.1", port: upstream.port, decision: "allowed" })
      expect(blocked && fieldsOf(blocked)).toMatchObject({ kind: "http", host: "denied.test", port: 80, decision: "blocked", reason: "not-allowlisted" })

      const argv = fake.calls()[0]?.argv ?? []
      const mounts = argv.flatMap((word, i) => (argv[i - 1] === "--mount" ? [word] : []))
      expect(mounts).toHaveLength(2)
      const socketMount = mounts[1] ?? ""
      const socket = /^type=bind,source=(.+\/egress\.sock),target=\/run\/warrant\/egress\.sock,readonly$/.exec(socketMount)?.[1] ?? ""
      expect(socket).not.toBe("")
      expect(mounts[0]).toBe(`type=bind,source=${workspace},target=/workspace`)
      expect(argv.slice(argv.indexOf("--network"), argv.indexOf("--network") + 2)).toEqual(["--network", "none"])
      expect(argv.slice(argv.indexOf(IMAGE))).toEqual([IMAGE, "node", "-e", BRIDGE_SOURCE, "--", "/run/warrant/egress.sock", "3128", "sh", "-c", script])
      expect(argv.slice(argv.indexOf("-w"), argv.indexOf(IMAGE))).toEqual([
        "-w", "/workspace",
        "-e", "HOME=/tmp",
        "-e", "HTTP_PROXY=http://127.0.0.1:3128",
        "-e", "HTTPS_PROXY=http://127.0.0.1:3128",
        "-e", "http_proxy=http://127.0.0.1:3128",
        "-e", "https_proxy=http://127.0.0.1:3128",
        "-e", "NO_PROXY=",
        "-e", "no_proxy="
      ])
      // The socket and its private directory are gone with the session.
      expect(existsSync(socket)).toBe(false)
      expect(existsSync(join(socket, ".."))).toBe(false)
    }))

  it.scopedLive("the proxy asked for but every host denied: no proxy, no bridge, no network", () =>
    Effect.gen(function*() {
      const { fake, run } = yield* setup()
      const result = yield* run(argv("env"), { egressProxy: true })
      expect(result.log.split("\n").filter((line) => /proxy/i.test(line))).toEqual([])
      const recorded = fake.calls()[0]?.argv ?? []
      expect(recorded.filter((word) => word === "--mount")).toHaveLength(1)
      expect(recorded.slice(recorded.indexOf(IMAGE))).toEqual([IMAGE, "env"])
    }))
})

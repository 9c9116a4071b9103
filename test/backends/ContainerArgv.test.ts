import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import {
  clientEnv,
  type ContainerEnv,
  containerCwd,
  containerEnv,
  containerName,
  probeArgv,
  removeArgv,
  reservedForClient,
  type RunSpec,
  runArgv,
  runtimeReason
} from "../../src/backends/ContainerArgv.js"
import { BRIDGE_SOURCE } from "../../src/backends/EgressBridge.js"
import { literal, released, secretRef } from "./support/Sessions.js"

const noEnv: ContainerEnv = { flags: ["-e", "HOME=/tmp"], values: {} }

const spec = (overrides: Partial<RunSpec> = {}): RunSpec => ({
  runtime: "docker",
  name: "warrant-0011223344556677",
  image: "node:20-alpine",
  workspace: "/srv/runs/r1",
  cwd: "",
  user: "1000:1000",
  pidsLimit: 256,
  memory: "1g",
  cpus: undefined,
  env: noEnv,
  egressSocket: undefined,
  node: "node",
  command: ["sh", "-c", "echo hi"],
  ...overrides
})

/** The flags every run carries, between the name and the mounts. */
const isolation = (pids = "256", memory = "1g") => [
  "--network", "none",
  "--cap-drop", "ALL",
  "--security-opt", "no-new-privileges",
  "--read-only",
  "--tmpfs", "/tmp:rw,nosuid,nodev,size=256m",
  "--pids-limit", pids,
  "--memory", memory,
  "--memory-swap", memory
]

const right = <A>(either: Either.Either<A, string>): A => Either.getOrThrowWith(either, (reason) => new Error(reason))
const left = <A>(either: Either.Either<A, string>): string => Either.match(either, { onLeft: (l) => l, onRight: () => "no refusal" })

describe("the container run argv", () => {
  it("a deny-all shell command: every isolation flag, the workspace at /workspace, the command after the image", () => {
    expect(right(runArgv(spec()))).toEqual([
      "run", "--rm", "--init", "--name", "warrant-0011223344556677",
      ...isolation(),
      "--user", "1000:1000",
      "--log-driver", "none",
      "--mount", "type=bind,source=/srv/runs/r1,target=/workspace",
      "-w", "/workspace",
      "-e", "HOME=/tmp",
      "node:20-alpine",
      "sh", "-c", "echo hi"
    ])
  })

  it("an argv command in a subdirectory, under podman (which is told not to pass its own proxy variables)", () => {
    expect(right(runArgv(spec({ runtime: "podman", cwd: "pkg/a", command: ["make", "-j2", "test"] })))).toEqual([
      "run", "--rm", "--init", "--name", "warrant-0011223344556677",
      "--network", "none",
      "--http-proxy=false",
      ...isolation().slice(2),
      "--user", "1000:1000",
      "--log-driver", "none",
      "--mount", "type=bind,source=/srv/runs/r1,target=/workspace",
      "-w", "/workspace/pkg/a",
      "-e", "HOME=/tmp",
      "node:20-alpine",
      "make", "-j2", "test"
    ])
  })

  it("a literal and a secret: the literal as NAME=value, the secret by name only, its value for the client", () => {
    const env = right(containerEnv({
      prepared: { GREETING: literal("hello world"), TOKEN: secretRef("API_TOKEN"), UNRELEASED: secretRef("OTHER") },
      secrets: [released("API_TOKEN", "tok-0123456789")],
      proxyUrl: undefined,
      clientNames: ["PATH", "HOME"]
    }))
    expect(env).toEqual({ flags: ["-e", "GREETING=hello world", "-e", "TOKEN", "-e", "HOME=/tmp"], values: { TOKEN: "tok-0123456789" } })
    const argv = right(runArgv(spec({ env })))
    expect(argv.slice(argv.indexOf("-w"))).toEqual([
      "-w", "/workspace",
      "-e", "GREETING=hello world", "-e", "TOKEN", "-e", "HOME=/tmp",
      "node:20-alpine", "sh", "-c", "echo hi"
    ])
    expect(argv.join(" ")).not.toContain("tok-0123456789")
  })

  it("allowed hosts: --network none still, the proxy socket mounted read-only, the command behind the bridge, proxy variables last", () => {
    const env = right(containerEnv({
      prepared: { HTTP_PROXY: literal("http://elsewhere.test:1"), HOME: literal("/workspace") },
      secrets: [],
      proxyUrl: "http://127.0.0.1:3128",
      clientNames: []
    }))
    const argv = right(runArgv(spec({ env, egressSocket: "/tmp/warrant-ctr-x/egress.sock", command: ["curl", "https://example.com"] })))
    expect(argv).toEqual([
      "run", "--rm", "--init", "--name", "warrant-0011223344556677",
      ...isolation(),
      "--user", "1000:1000",
      "--log-driver", "none",
      "--mount", "type=bind,source=/srv/runs/r1,target=/workspace",
      "--mount", "type=bind,source=/tmp/warrant-ctr-x/egress.sock,target=/run/warrant/egress.sock,readonly",
      "-w", "/workspace",
      "-e", "HOME=/workspace",
      "-e", "HTTP_PROXY=http://127.0.0.1:3128",
      "-e", "HTTPS_PROXY=http://127.0.0.1:3128",
      "-e", "http_proxy=http://127.0.0.1:3128",
      "-e", "https_proxy=http://127.0.0.1:3128",
      "-e", "NO_PROXY=",
      "-e", "no_proxy=",
      "node:20-alpine",
      "node", "-e", BRIDGE_SOURCE, "--", "/run/warrant/egress.sock", "3128", "curl", "https://example.com"
    ])
  })

  it("custom pids, memory, cpus and user", () => {
    const argv = right(runArgv(spec({ pidsLimit: 64, memory: "512m", cpus: 1.5, user: "65534:65534" })))
    expect(argv.slice(5, argv.indexOf("--mount"))).toEqual([
      ...isolation("64", "512m"),
      "--cpus", "1.5",
      "--user", "65534:65534",
      "--log-driver", "none"
    ])
  })

  it("refuses host paths that would add --mount fields, flag-like images and bad limits", () => {
    expect(left(runArgv(spec({ workspace: "/srv/a,readonly=false" })))).toBe(
      `the host path "/srv/a,readonly=false" holds a comma, quote or control character and cannot be mounted safely`
    )
    expect(left(runArgv(spec({ workspace: "relative/ws" })))).toBe(`the mount source "relative/ws" is not absolute`)
    expect(left(runArgv(spec({ egressSocket: "/tmp/a\nb/egress.sock" })))).toBe(
      `the host path "/tmp/a\\nb/egress.sock" holds a comma, quote or control character and cannot be mounted safely`
    )
    expect(left(runArgv(spec({ image: "--privileged" })))).toBe(`the image "--privileged" is not an image reference`)
    expect(left(runArgv(spec({ user: "--privileged", pidsLimit: 0, memory: "lots", cpus: Number.NaN })))).toBe([
      `the user "--privileged" is not uid[:gid] or name[:group]`,
      "the pids limit 0 is not a positive integer",
      `the memory limit "lots" is not a size such as 512m or 1g`,
      "the cpus limit NaN is not a positive number"
    ].join("; "))
    expect(left(runArgv(spec({ cwd: "../x" })))).toBe(`the working directory "../x" is outside the workspace`)
  })

  it("the working directory stays under /workspace", () => {
    expect(containerCwd(".")).toEqual(Either.right("/workspace"))
    expect(containerCwd("a/./b")).toEqual(Either.right("/workspace/a/b"))
    expect(containerCwd("..")).toEqual(Either.left(`the working directory ".." is outside the workspace`))
  })

  it("names, probes and removals", () => {
    expect(containerName(new Uint8Array([0, 1, 0xab, 0xff]))).toBe("warrant-0001abff")
    expect(probeArgv("docker")).toEqual(["version", "--format", "{{.Server.Version}}"])
    expect(probeArgv("podman")).toEqual(["info"])
    expect(removeArgv("warrant-01")).toEqual(["rm", "-f", "warrant-01"])
  })
})

describe("the container environment", () => {
  it("the client keeps only what the runtime needs from the host", () => {
    expect(clientEnv({ PATH: "/bin", HOME: "/root", DOCKER_HOST: "unix:///d.sock", AWS_SECRET_ACCESS_KEY: "k", TERM: "xterm" })).toEqual({
      PATH: "/bin",
      HOME: "/root",
      DOCKER_HOST: "unix:///d.sock"
    })
  })

  it("refuses a secret under a name that would steer the client, a bad name, or a NUL", () => {
    const refuse = (name: string, value = "value-1234") =>
      left(containerEnv({ prepared: { [name]: secretRef("S") }, secrets: [released("S", value)], proxyUrl: undefined, clientNames: ["FAKE_MODE"] }))
    for (const name of ["DOCKER_HOST", "docker_config", "PATH", "LD_PRELOAD", "XDG_RUNTIME_DIR", "https_proxy", "CONTAINER_HOST", "FAKE_MODE"]) {
      expect(refuse(name)).toBe(`the secret for ${name} is refused: a variable of that name would configure the container runtime client itself`)
    }
    expect(refuse("OK", "a\u0000b-secret")).toBe("the secret for OK holds a NUL byte, which no environment variable can carry")
    expect(left(containerEnv({ prepared: { "A=B": literal("x") }, secrets: [], proxyUrl: undefined, clientNames: [] }))).toBe(
      `the variable name "A=B" cannot be passed to a container`
    )
    // The same names as literals are harmless: they reach the container only, through the argv.
    expect(right(containerEnv({ prepared: { DOCKER_HOST: literal("x") }, secrets: [], proxyUrl: undefined, clientNames: [] })).flags).toEqual([
      "-e", "DOCKER_HOST=x", "-e", "HOME=/tmp"
    ])
    expect(reservedForClient("GITHUB_TOKEN")).toBe(false)
  })
})

describe("the runtime's reason for exit 125", () => {
  it("keeps the lines naming the failure, never the usage hint", () => {
    expect(runtimeReason([
      "Unable to find image 'ghost:1' locally",
      "docker: Error response from daemon: pull access denied for ghost, repository does not exist or may require 'docker login'",
      "See 'docker run --help'.",
      ""
    ].join("\n"))).toBe(
      "Unable to find image 'ghost:1' locally; docker: Error response from daemon: pull access denied for ghost, repository does not exist or may require 'docker login'"
    )
    expect(runtimeReason("docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\nSee 'docker run --help'.\n"))
      .toBe("docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
    expect(runtimeReason("warrant-bridge: could not listen on 127.0.0.1:3128: EADDRINUSE\n")).toBe(
      "warrant-bridge: could not listen on 127.0.0.1:3128: EADDRINUSE"
    )
    expect(runtimeReason("line one\nlast words\n")).toBe("last words")
    expect(runtimeReason("")).toBe("it printed no reason")
    expect(runtimeReason(`Error: ${"x".repeat(600)}`)).toBe(`Error: ${"x".repeat(493)}…`)
  })
})

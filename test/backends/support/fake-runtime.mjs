#!/usr/bin/env node
// A stand-in for the docker / podman client, for the container tier's tests. It appends what
// it was asked — its argv, its environment's names, and the client-side values of every
// `-e NAME` — as a JSON line to $FAKE_RUNTIME_RECORD, then answers like the real client:
//
//   version --format ...   the engine's version, or "Cannot connect" (FAKE_RUNTIME_MODE=no-daemon)
//   info                   podman's answer, or its connection error
//   rm -f NAME             kills the "container" by name (its pid in $FAKE_RUNTIME_STATE)
//   run ...                parses the tier's flags (an unknown one is exit 125, like the real
//                          client), or fails with exit 125 as the mode says: no-daemon,
//                          no-image, unauthorized. Otherwise runs the command on this host:
//                          in the mounted workspace, with only the -e environment (plus PATH,
//                          standing in for the image's), mount targets in its argv mapped to
//                          their sources, under `--network none` in a fresh network namespace
//                          with only loopback, and in its own process group — so, as with a
//                          real engine, killing the client does not stop it; only `rm -f` does.
import { spawn } from "node:child_process"
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { constants } from "node:os"
import { join } from "node:path"

const args = process.argv.slice(2)
const mode = process.env.FAKE_RUNTIME_MODE ?? "ok"
const runtime = process.env.FAKE_RUNTIME_NAME ?? "docker"
const state = process.env.FAKE_RUNTIME_STATE ?? "/nonexistent"

const passedNames = []
for (let i = 0; i < args.length - 1; i++) {
  if (args[i] === "-e" && !args[i + 1].includes("=")) passedNames.push(args[i + 1])
}
if (process.env.FAKE_RUNTIME_RECORD !== undefined) {
  const passed = Object.fromEntries(passedNames.map((name) => [name, process.env[name] ?? null]))
  appendFileSync(
    process.env.FAKE_RUNTIME_RECORD,
    JSON.stringify({ argv: args, envNames: Object.keys(process.env).sort(), passed }) + "\n"
  )
}

const fail = (code, message) => {
  process.stderr.write(message + "\n")
  process.exit(code)
}

const daemonDown = runtime === "docker"
  ? "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
  : "Error: unable to connect to Podman socket: dial unix /run/podman/podman.sock: connect: no such file or directory"

const run = (rest) => {
  const withValue = new Set([
    "--name", "--network", "--cap-drop", "--security-opt", "--tmpfs", "--pids-limit", "--memory",
    "--memory-swap", "--cpus", "--user", "--log-driver", "--mount", "-w", "-e"
  ])
  const switches = new Set(["--rm", "--init", "--read-only", "--http-proxy=false"])
  const options = []
  let i = 0
  while (i < rest.length && rest[i].startsWith("-")) {
    if (switches.has(rest[i])) {
      options.push([rest[i], true])
      i++
    } else if (withValue.has(rest[i]) && i + 1 < rest.length) {
      options.push([rest[i], rest[i + 1]])
      i += 2
    } else {
      fail(125, `${runtime}: unknown flag: ${rest[i]}\nSee '${runtime} run --help'.`)
    }
  }
  const image = rest[i]
  const command = rest.slice(i + 1)
  if (image === undefined || command.length === 0) fail(125, `${runtime}: "run" requires an image and a command`)
  if (mode === "no-daemon") fail(125, `${runtime}: ${daemonDown}\nSee '${runtime} run --help'.`)
  if (mode === "no-image") {
    fail(125, [
      `Unable to find image '${image}' locally`,
      `${runtime}: Error response from daemon: pull access denied for ${image.split(":")[0]}, repository does not exist or may require '${runtime} login'`,
      `See '${runtime} run --help'.`
    ].join("\n"))
  }
  if (mode === "unauthorized") {
    fail(125, `${runtime}: Error response from daemon: Head "https://registry.example/v2/${image}/manifests/latest": unauthorized: authentication required\nSee '${runtime} run --help'.`)
  }

  const values = (flag) => options.filter(([name]) => name === flag).map(([, value]) => value)
  const name = values("--name")[0]
  const mounts = values("--mount").map((spec) => Object.fromEntries(spec.split(",").map((field) => field.split("="))))
  const toHost = (path) => {
    for (const mount of mounts) {
      if (path === mount.target) return mount.source
      if (path.startsWith(mount.target + "/")) return mount.source + path.slice(mount.target.length)
    }
    return undefined
  }
  const cwd = toHost(values("-w")[0] ?? "/")
  if (cwd === undefined) fail(125, `${runtime}: the working directory is not in a mount`)
  const env = { PATH: process.env.PATH }
  for (const entry of values("-e")) {
    const at = entry.indexOf("=")
    if (at >= 0) env[entry.slice(0, at)] = entry.slice(at + 1)
    else if (process.env[entry] !== undefined) env[entry] = process.env[entry]
  }
  const argv = command.map((word) => mounts.find((mount) => mount.target === word)?.source ?? word)
  const isolated = values("--network")[0] === "none"
  const [file, ...rest2] = isolated
    ? ["unshare", "-rn", "sh", "-c", `ip link set lo up && exec "$@"`, "fake-container", ...argv]
    : argv
  const child = spawn(file, rest2, { cwd, env, detached: true, stdio: ["ignore", "inherit", "inherit"] })
  if (name !== undefined) writeFileSync(join(state, `${name}.pid`), String(child.pid))
  child.on("error", (error) => fail(127, `${runtime}: ${error.message}`))
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)))
}

const remove = (names) => {
  for (const name of names) {
    const pidFile = join(state, `${name}.pid`)
    if (!existsSync(pidFile)) fail(1, `Error response from daemon: No such container: ${name}`)
    try {
      process.kill(-Number(readFileSync(pidFile, "utf8")), "SIGKILL")
    } catch {
      // already gone: --rm removed it
    }
    process.stdout.write(`${name}\n`)
  }
  process.exit(0)
}

switch (args[0]) {
  case "version":
    if (mode === "no-daemon") fail(1, daemonDown)
    if (mode === "hang") setInterval(() => {}, 1_000)
    else process.stdout.write("27.1.1\n")
    break
  case "info":
    if (mode === "no-daemon") fail(125, daemonDown)
    process.stdout.write("host:\n  arch: amd64\n")
    break
  case "rm":
    remove(args.slice(1).filter((arg) => !arg.startsWith("-")))
    break
  case "run":
    run(args.slice(1))
    break
  default:
    fail(125, `${runtime}: unknown command: ${args[0]}`)
}

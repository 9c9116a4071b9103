import { NodeContext } from "@effect/platform-node"
import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Either, Exit } from "effect"
import { spawn } from "node:child_process"
import { createServer } from "node:http"
import { connect } from "node:net"
import { createInterface } from "node:readline"
import { run } from "../../src/cli/Cli.js"
import { parseListen } from "../../src/cli/commands/egress.js"

describe("parseListen", () => {
  it.each([
    ["127.0.0.1:0", { host: "127.0.0.1", port: 0 }],
    ["127.0.0.1:8080", { host: "127.0.0.1", port: 8080 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
    ["127.1:80", { host: "127.0.0.1", port: 80 }]
  ])("reads %s", (text, expected) => {
    expect(parseListen(text)).toEqual(Either.right(expected))
  })

  it.each([
    ["localhost:8080", "give an IP address"],
    ["127.0.0.1", "needs an explicit port"],
    ["127.0.0.1:99999", "port must be a number"],
    ["user@127.0.0.1:80", "userinfo"]
  ])("refuses %s", (text, fragment) => {
    const result = parseListen(text)
    expect(Either.isLeft(result) && result.left.includes(fragment)).toBe(true)
  })
})

describe("warrant egress serve (in process)", () => {
  const errors: Array<string> = []
  afterEach(() => {
    vi.restoreAllMocks()
    errors.length = 0
  })
  const cli = (...args: Array<string>) => {
    vi.spyOn(console, "error").mockImplementation((...m: Array<unknown>) => void errors.push(m.join(" ")))
    return run(["node", "warrant", "egress", "serve", ...args]).pipe(Effect.provide(NodeContext.layer), Effect.exit)
  }

  it.effect("a policy entry it cannot read is a usage error naming the entry", () =>
    Effect.gen(function*() {
      const exit = yield* cli("--allow", "*.com")
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ExitCode", code: 2 })))
      expect(errors.join("\n")).toContain(`invalid allowHosts entry "*.com": a wildcard over a single label`)
    }))

  it.effect("a non-loopback --listen address is refused, so the proxy is never an open relay", () =>
    Effect.gen(function*() {
      const exit = yield* cli("--allow", "example.com", "--listen", "0.0.0.0:8080")
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ExitCode", code: 1 })))
      expect(errors.join("\n")).toContain(`the proxy listens on loopback only, not "0.0.0.0"`)
    }))
})

describe("warrant egress serve (the binary)", () => {
  it("prints one JSON decision per line and stops cleanly on SIGINT", async () => {
    const upstream = createServer((_, res) => res.end("hello"))
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve))
    const upstreamPort = (upstream.address() as { port: number }).port
    const child = spawn(process.execPath, [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "egress",
      "serve",
      "--allow",
      `127.0.0.1:${upstreamPort}`,
      "--allow-address",
      "127.0.0.1"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let seen = ""
        child.stderr.on("data", (chunk: Buffer) => {
          seen += chunk.toString()
          const match = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen)
          if (match) resolve(match[1]!)
        })
        child.once("exit", (code) => reject(new Error(`exited ${code}: ${seen}`)))
      })
      const port = Number(new URL(url).port)
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
      const ask = (target: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => socket.write(`GET ${target} HTTP/1.1\r\nHost: ${new URL(target).host}\r\nConnection: close\r\n\r\n`))
          let reply = ""
          socket.on("data", (chunk) => (reply += chunk.toString()))
          socket.on("end", () => resolve(reply))
          socket.on("error", reject)
        })
      expect(await ask(`http://127.0.0.1:${upstreamPort}/`)).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*hello$/)
      expect(JSON.parse((await lines.next()).value as string)).toEqual({
        id: 0,
        kind: "http",
        host: "127.0.0.1",
        port: upstreamPort,
        decision: "allowed",
        reason: "allowlisted",
        detail: `matched "127.0.0.1:${upstreamPort}", dialling 127.0.0.1`,
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: 5
      })
      expect(await ask("http://blocked.example/")).toMatch(/^HTTP\/1\.1 403 Forbidden/)
      expect(JSON.parse((await lines.next()).value as string)).toEqual({
        id: 1,
        kind: "http",
        host: "blocked.example",
        port: 80,
        decision: "blocked",
        reason: "not-allowlisted",
        detail: "blocked.example is not in the allowlist"
      })
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
      child.kill("SIGINT")
      expect(await exited).toBe(0)
    } finally {
      child.kill("SIGKILL")
      upstream.close()
    }
  })
})

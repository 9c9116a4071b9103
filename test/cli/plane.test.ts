import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { mkdtemp, readFile, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"

/** `warrant plane start` in a child process; resolves with the listening URL and every line printed before it. */
const startPlane = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "plane", "start", "--data-dir", dataDir, "--port", "0"], {
        cwd: process.cwd(),
        stdio: ["ignore", "pipe", "pipe"]
      })
      const lines: Array<string> = []
      const url = await new Promise<string>((resolve, reject) => {
        const onLine = (line: string) => {
          lines.push(line)
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
          if (match !== null) resolve(match[1]!)
        }
        createInterface({ input: child.stdout }).on("line", onLine)
        createInterface({ input: child.stderr }).on("line", onLine)
        child.on("exit", (code) => reject(new Error(`plane exited with ${code} before listening:\n${lines.join("\n")}`)))
      })
      return { child, url, lines }
    }),
    ({ child }) =>
      Effect.promise(async () => {
        if (child.exitCode !== null) return
        child.kill("SIGTERM")
        await once(child, "exit")
      })
  )

describe("warrant plane start", () => {
  it.live("creates its data directory, prints the admin token once, serves the API, and keeps its state across restarts", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "warrant-plane-cli-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const dataDir = join(dir, "plane")
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const { url, lines } = yield* startPlane(dataDir)
        const token = (yield* Effect.promise(() => readFile(join(dataDir, "admin.token"), "utf8"))).trim()
        expect(token).toMatch(/^wpt_[0-9a-f]{24}\.[A-Za-z0-9_-]{43}$/)
        expect(lines.some((line) => line.includes(token))).toBe(true)
        for (const file of ["admin.token", "master.key", "keys/plane.key.json"]) {
          expect(((yield* Effect.promise(() => stat(join(dataDir, file)))).mode & 0o777).toString(8), file).toBe("600")
        }
        expect(((yield* Effect.promise(() => stat(dataDir))).mode & 0o777).toString(8)).toBe("700")
        const health = yield* Effect.promise(() => fetch(`${url}/health`).then((r) => r.json()))
        expect(health).toEqual({ status: "ok" })
        const policy = yield* Effect.promise(() => fetch(`${url}/policy`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status))
        expect(policy).toBe(200)
        return token
      }))

      // The second start reuses the store: the same admin token works, and no new one is shown.
      yield* Effect.scoped(Effect.gen(function*() {
        const { url, lines } = yield* startPlane(dataDir)
        expect(lines.some((line) => line.includes("admin token"))).toBe(false)
        const status = yield* Effect.promise(() => fetch(`${url}/principals`, { headers: { authorization: `Bearer ${first}` } }).then((r) => r.status))
        expect(status).toBe(200)
      }))
    }).pipe(Effect.scoped))
})

import { NodeContext } from "@effect/platform-node"
import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Either, Exit, Redacted } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { run } from "../../src/cli/Cli.js"
import { parseDuration, parseSecret, REFUSED_EXIT } from "../../src/cli/commands/exec.js"

describe("parseDuration", () => {
  it.each([
    ["300ms", 300],
    ["30s", 30_000],
    ["1.5s", 1_500],
    ["5m", 300_000],
    ["1h", 3_600_000]
  ])("reads %s", (text, ms) => {
    expect(parseDuration(text)).toEqual(Either.right(ms))
  })

  it.each(["", "10", "5 minutes", "-1s", "0ms", "25h"])("refuses %j", (text) => {
    expect(Either.isLeft(parseDuration(text))).toBe(true)
  })
})

describe("parseSecret", () => {
  it("NAME=VALUE carries the value, redacted", () => {
    const secret = Either.getOrThrow(parseSecret("NPM_TOKEN=abc=def", {}))
    expect([secret.name, Redacted.value(secret.value), String(secret.value)]).toEqual(["NPM_TOKEN", "abc=def", "<redacted>"])
  })

  it("NAME alone takes the value from the environment, and says so when it is not set", () => {
    expect(Either.map(parseSecret("TOKEN", { TOKEN: "from-env" }), (s) => Redacted.value(s.value))).toEqual(Either.right("from-env"))
    expect(parseSecret("TOKEN", {})).toEqual(Either.left("--secret TOKEN: no value given and $TOKEN is not set"))
  })

  it("refuses a name that is not an environment variable name, or too long for a secret name", () => {
    expect(Either.isLeft(parseSecret(`${"A".repeat(129)}=x`, {}))).toBe(true)
    expect(parseSecret("1BAD=x", {})).toEqual(Either.left(`--secret "1BAD": not an environment variable name (letters, digits and _, at most 128)`))
  })
})

describe("warrant exec", () => {
  const out: Array<string> = []
  const err: Array<string> = []
  let dir = ""
  afterEach(() => {
    vi.restoreAllMocks()
    out.length = 0
    err.length = 0
    if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })
  const cli = (...args: Array<string>) =>
    Effect.suspend(() => {
      dir = mkdtempSync(join(tmpdir(), "warrant-exec-"))
      vi.spyOn(console, "error").mockImplementation((...m: Array<unknown>) => void err.push(m.join(" ")))
      vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
        out.push(String(chunk))
        return true
      })
      return run(["node", "warrant", "exec", "--workspace", dir, ...args]).pipe(Effect.provide(NodeContext.layer), Effect.exit)
    })

  for (const tier of ["process", "hermetic", "namespace"] as const) {
    it.live(`${tier}: runs the command in the workspace, prints the matrix, redacts the secret, exits 0`, () =>
      Effect.gen(function*() {
        const exit = yield* cli("--isolation", tier, "--secret", "TOKEN=tok-12345", "--", "echo", "made", ">", "out.txt;", "echo", "$TOKEN")
        expect(exit).toEqual(Exit.void)
        expect(readFileSync(join(dir, "out.txt"), "utf8")).toBe("made\n")
        expect(out.join("")).toBe("[REDACTED:TOKEN]\n")
        expect(err.join("\n")).toMatch(/warrant exec: execution sha256:[0-9a-f]{64}/)
        expect(err.join("\n")).toContain(`warrant exec: ${tier} tier: read `)
        expect(err.join("\n")).toContain("warrant exec: redacted TOKEN ×1")
        expect(err.join("\n")).toContain("warrant exec: exit 0")
      }))

    it.live(`${tier}: exits with the command's own exit code`, () =>
      Effect.gen(function*() {
        const exit = yield* cli("--isolation", tier, "--", "exit", "3")
        expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ExitCode", code: 3 })))
      }))

    it.live(`${tier}: a timeout exits 124`, () =>
      Effect.gen(function*() {
        const script = tier !== "hermetic" ? ["sleep", "30"] : ["while", "true;", "do", ":;", "done"]
        const exit = yield* cli("--isolation", tier, "--timeout", "300ms", "--", ...script)
        expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ExitCode", code: 124 })))
        expect(err.join("\n")).toContain("warrant exec: exit 124 (timed out)")
      }))
  }

  it.live("demanding network enforcement on the process tier is refused with 125 before anything runs", () =>
    Effect.gen(function*() {
      const exit = yield* cli("--isolation", "process", "--enforce", "network", "--", "touch", "ran")
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ExitCode", code: REFUSED_EXIT })))
      expect(err.join("\n")).toContain("warrant exec: refused: the process tier cannot enforce network: the run demands network enforced, but the process tier only attests network")
      expect(existsSync(join(dir, "ran"))).toBe(false)
    }))

  it.live("the hermetic tier enforces network, so the same demand runs there", () =>
    Effect.gen(function*() {
      const exit = yield* cli("--isolation", "hermetic", "--enforce", "network", "--", "touch", "ran")
      expect(exit).toEqual(Exit.void)
      expect(existsSync(join(dir, "ran"))).toBe(true)
    }))

  it.live("the container tier without an image (and here without an engine) is refused with 125, saying why", () =>
    Effect.gen(function*() {
      vi.stubEnv("WARRANT_CONTAINER_IMAGE", undefined)
      const exit = yield* cli("--isolation", "container", "--", "touch", "ran")
      vi.unstubAllEnvs()
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ExitCode", code: REFUSED_EXIT })))
      expect(err.join("\n")).toContain("warrant exec: refused: the container tier cannot run the command agent: the tier is not ready on this host:")
      expect(err.join("\n")).toContain("no container image is configured")
      expect(existsSync(join(dir, "ran"))).toBe(false)
    }))

  it.live("the vercel-sandbox tier without credentials is refused with 125 before a sandbox exists", () =>
    Effect.gen(function*() {
      for (const name of ["VERCEL_TOKEN", "VERCEL_TEAM_ID", "VERCEL_PROJECT_ID", "VERCEL_OIDC_TOKEN"]) vi.stubEnv(name, undefined)
      const exit = yield* cli("--isolation", "vercel-sandbox", "--", "touch", "ran")
      vi.unstubAllEnvs()
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ExitCode", code: REFUSED_EXIT })))
      expect(err.join("\n")).toContain("warrant exec: refused: the vercel-sandbox tier cannot run the command agent: the tier is not ready on this host: no Vercel credentials")
      expect(existsSync(join(dir, "ran"))).toBe(false)
    }))

  it.live("the namespace tier enforces network and env, so demanding both runs there", () =>
    Effect.gen(function*() {
      const exit = yield* cli("--isolation", "namespace", "--enforce", "network", "--enforce", "env", "--", "touch", "ran")
      expect(exit).toEqual(Exit.void)
      expect(err.join("\n")).toContain("warrant exec: namespace tier: read enforced, write enforced, command attested, network enforced, env enforced")
      expect(existsSync(join(dir, "ran"))).toBe(true)
    }))

  it.live("a bad --timeout is a usage error (exit 2)", () =>
    Effect.gen(function*() {
      const exit = yield* cli("--isolation", "process", "--timeout", "soon", "--", "true")
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ExitCode", code: 2 })))
      expect(err.join("\n")).toContain(`warrant exec: --timeout "soon": expected a number with ms, s, m or h, e.g. 30s`)
    }))
})

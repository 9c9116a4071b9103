import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, HashMap, Logger, Redacted, TestClock } from "effect"
import type { PreparedExecution } from "../../src/backends/Execution.js"
import { truncationMarker } from "../../src/backends/LogCapture.js"
import * as Select from "../../src/backends/Select.js"
import type { ReleasedSecret } from "../../src/backends/SessionBackend.js"
import { missingCredentials } from "../../src/backends/VercelCredentials.js"
import * as VercelSandbox from "../../src/backends/VercelSandbox.js"
import { type FakeOptions, type FakeVercel, makeFakeVercel } from "./support/FakeVercelSandbox.js"
import { argv, execution as executionOf, literal, released, secretRef, sh, tempDir } from "./support/Sessions.js"

const WORKDIR = VercelSandbox.DEFAULT_WORKDIR

const credentials = { token: Redacted.make("vercel-token-value"), teamId: "team_1", projectId: "prj_1" }

const execution = (script: string, overrides: Partial<PreparedExecution> = {}) => executionOf(sh(script), overrides)

const backendWith = (fake: FakeVercel, options: VercelSandbox.VercelSandboxOptions = {}) =>
  VercelSandbox.make({ ...credentials, env: {}, createSandbox: fake.createSandbox, ...options })

/** A workspace on disk holding `files`, removed with the scope. */
const workspaceWith = (files: Readonly<Record<string, string>>) =>
  Effect.tap(tempDir("vercel"), (root) =>
    Effect.sync(() => {
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(join(root, path, ".."), { recursive: true })
        writeFileSync(join(root, path), content)
      }
    }))

const runWith = (
  fake: FakeVercel,
  workspace: string,
  exec: PreparedExecution,
  secrets: ReadonlyArray<ReleasedSecret> = [],
  options: VercelSandbox.VercelSandboxOptions = {}
) => Effect.flatMap(backendWith(fake, options), (tier) => Effect.scoped(tier.run({ execution: exec, workspace, secrets })))

/** Runs `script` in a fresh fake against a workspace holding `files`. */
const session = (script: string, files: Readonly<Record<string, string>> = {}, fakeOptions: FakeOptions = {}) =>
  Effect.gen(function*() {
    const fake = makeFakeVercel(fakeOptions)
    const workspace = yield* workspaceWith(files)
    const exit = yield* Effect.exit(runWith(fake, workspace, execution(script)))
    return { fake, workspace, exit }
  })

const ok = (log: string, exitCode = 0) => ({ exitCode, log, truncated: false, timedOut: false, redactions: {}, network: [] })

describe("the Vercel sandbox tier", () => {
  it.effect("enforces read, write, network and env; attests command; refuses pi and what the VM cannot express", () =>
    Effect.gen(function*() {
      const tier = yield* backendWith(makeFakeVercel())
      expect(tier.tier).toBe("vercel-sandbox")
      expect(tier.capability).toEqual({ read: "enforced", write: "enforced", command: "attested", network: "enforced", env: "enforced" })
      expect(tier.unsupported(execution("true"))).toBeUndefined()
      expect(tier.unsupported(executionOf(argv("claude", "-p", "hi"), { agent: "claude-code" }))).toBeUndefined()
      expect(tier.unsupported(execution("true", { agent: "pi" }))).toBe("pi is harness-only; no tier on this runner can run it")
      expect(tier.unsupported(execution("true", { network: { defaultDeny: true, allowHosts: ["a.example:22"] } }))).toBe(
        "the allowed host \"a.example:22\" names a port, and the sandbox's network policy allows a domain on every port"
      )
    }))

  it.effect("is ready when credentials resolve, from options, the environment or an OIDC token", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const fromOptions = yield* backendWith(fake)
      expect(yield* fromOptions.probe).toEqual({ ready: true })
      const fromEnv = yield* VercelSandbox.make({ env: { VERCEL_TOKEN: "t", VERCEL_TEAM_ID: "team", VERCEL_PROJECT_ID: "prj" } })
      expect(yield* fromEnv.probe).toEqual({ ready: true })
      const claims = Buffer.from(JSON.stringify({ owner_id: "team", project_id: "prj" })).toString("base64url")
      const fromOidc = yield* VercelSandbox.make({ env: { VERCEL_OIDC_TOKEN: `h.${claims}.s` } })
      expect(yield* fromOidc.probe).toEqual({ ready: true })
      const without = yield* VercelSandbox.make({ env: {}, workdir: "/vercel/../etc" })
      expect(yield* without.probe).toEqual({
        ready: false,
        reasons: [missingCredentials, "the sandbox workdir \"/vercel/../etc\" must not contain '.' or '..'"]
      })
      expect(fake.creates).toEqual([])
    }))

  it.effect("without credentials, select refuses with CapabilityMismatch and no sandbox is created", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const exec = execution("true")
      const exit = yield* Select.select("vercel-sandbox", exec).pipe(
        Effect.provide(Select.layer([VercelSandbox.make({ env: {}, createSandbox: fake.createSandbox })])),
        Effect.exit
      )
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "CapabilityMismatch",
        tier: "vercel-sandbox",
        reason: `the tier is not ready on this host: ${missingCredentials}`
      })))
      expect(fake.creates).toEqual([])
    }))

  it.scoped("run without credentials fails before creating a sandbox; so does a '..' workdir", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({ "a.txt": "a" })
      const tier = yield* VercelSandbox.make({ env: {}, createSandbox: fake.createSandbox })
      expect(yield* Effect.exit(Effect.scoped(tier.run({ execution: execution("true"), workspace, secrets: [] })))).toEqual(
        Exit.fail(expect.objectContaining({ _tag: "SessionFailed", reason: missingCredentials }))
      )
      const dotdot = yield* Effect.exit(runWith(fake, workspace, execution("true"), [], { workdir: "/vercel/sandbox/../../etc" }))
      expect(dotdot).toEqual(Exit.fail(expect.objectContaining({
        _tag: "SessionFailed",
        reason: "the sandbox workdir \"/vercel/sandbox/../../etc\" must not contain '.' or '..'"
      })))
      expect(fake.creates).toEqual([])
    }))
})

describe("creating the sandbox", () => {
  it.scoped("the exact create input and credentials for a representative contract", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({ "a.txt": "a" })
      const exec = execution("true", { timeoutMs: 42_000, network: { defaultDeny: true, allowHosts: ["registry.npmjs.org", "*.github.com"] } })
      yield* runWith(fake, workspace, exec, [], { tags: { run: "run_1" }, resources: { vcpus: 2 }, timeoutMarginMs: 60_000 })
      expect(fake.creates.map(({ credentials: c, input }) => ({ input, credentials: { ...c, token: Redacted.value(c.token) } }))).toEqual([{
        input: {
          timeout: 102_000,
          networkPolicy: { allow: ["registry.npmjs.org", "*.github.com"] },
          persistent: false,
          resources: { vcpus: 2 },
          tags: { run: "run_1" },
          runtime: "node22"
        },
        credentials: { token: "vercel-token-value", teamId: "team_1", projectId: "prj_1", source: "options" }
      }])
    }))

  it.scoped("a contract whose network the VM cannot express fails closed before anything is created", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({})
      const exec = execution("true", { network: { defaultDeny: true, allowHosts: ["a.example"], allowAddresses: ["10.0.0.1"] } })
      const exit = yield* Effect.exit(runWith(fake, workspace, exec))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "SessionFailed",
        reason: expect.stringContaining("allowAddresses (10.0.0.1) cannot be expressed")
      })))
      expect(fake.creates).toEqual([])
    }))

  it.scoped("a create failure is a SessionFailed whose reason never holds the token", () =>
    Effect.gen(function*() {
      const { exit, fake } = yield* session("true", {}, { failCreate: "401 for token vercel-token-value" })
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        _tag: "SessionFailed",
        reason: "the sandbox could not be created: 401 for token [REDACTED:VERCEL_TOKEN]"
      })))
      expect(fake.stops).toBe(0)
    }))
})

describe("running in the sandbox", () => {
  it.scoped("env values with $, backticks, quotes and newlines arrive exactly; a secret is redacted from the log", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({})
      const tricky = "$HOME `echo pwned` $(echo nope) 'single' \"double\" \\ back\nsecond line"
      const exec = execution(`printf '[%s]\\n' "$TRICKY" "$TOKEN"`, { env: { TRICKY: literal(tricky), TOKEN: secretRef("API_TOKEN") } })
      const result = yield* runWith(fake, workspace, exec, [released("API_TOKEN", "tok-'$x`y`-secret")])
      expect(result).toEqual({ ...ok(`[${tricky}]\n[[REDACTED:API_TOKEN]]\n`), redactions: { API_TOKEN: 1 } })
      // The script, with its secret, travels as a file and never in a command's arguments.
      expect(fake.commands.map(({ args, cmd, cwd }) => ({ cmd, args, cwd }))).toEqual([{ cmd: "sh", args: [VercelSandbox.SCRIPT_PATH], cwd: "/" }])
      expect(JSON.stringify(fake.commands)).not.toContain("secret")
    }))

  it.scoped("argv commands run as given, and the cwd maps to the same directory inside the workdir", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({ "pkg/app/index.js": "x" })
      const result = yield* runWith(fake, workspace, executionOf(argv("sh", "-c", "pwd; ls"), { cwd: "pkg/app" }))
      expect(result).toEqual(ok(`${WORKDIR}/pkg/app\nindex.js\n`))
    }))

  it.scoped("a cwd leaving the workspace is refused before anything is created", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({})
      const exit = yield* Effect.exit(runWith(fake, workspace, execution("true", { cwd: "../elsewhere" })))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "SessionFailed", reason: expect.stringContaining("outside the workspace") })))
      expect(fake.creates).toEqual([])
    }))

  it.scoped("an env name that is not a shell name is refused before anything is created", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({})
      const exit = yield* Effect.exit(runWith(fake, workspace, execution("true", { env: { "X;reboot": literal("v") } })))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ reason: "the variable name \"X;reboot\" is not a valid shell name" })))
      expect(fake.creates).toEqual([])
    }))

  it.scoped("the exit code is the command's; a failing command is a result, not an error", () =>
    Effect.gen(function*() {
      const { exit, fake } = yield* session("echo out; echo err >&2; exit 3")
      expect(exit).toEqual(Exit.succeed(ok("out\nerr\n", 3)))
      expect(fake.stops).toBe(1)
    }))

  it.scoped("the timeout stops the command: exit 124, timedOut, the sandbox stopped", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel({ hang: true })
      const workspace = yield* workspaceWith({})
      const fiber = yield* Effect.fork(runWith(fake, workspace, execution("true", { timeoutMs: 30_000 })))
      yield* Effect.promise(() => fake.started)
      yield* TestClock.adjust("30 seconds")
      const result = yield* Fiber.join(fiber)
      expect(result).toEqual({ ...ok(""), exitCode: 124, timedOut: true })
      expect(fake.aborted).toBe(true)
      expect(fake.commands[0]?.timeoutMs).toBe(35_000)
      expect(fake.stops).toBe(1)
    }))

  it.scoped("output past the cap is cut and marked", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({})
      const result = yield* runWith(fake, workspace, execution("i=0; while [ $i -lt 100 ]; do echo 0123456789; i=$((i+1)); done", { logMaxBytes: 64 }))
      expect(result.truncated).toBe(true)
      expect(result.log).toBe(`${"0123456789\n".repeat(5)}012345678${truncationMarker(64)}`)
    }))
})

describe("staging the workspace", () => {
  it.scoped("skips .git, node_modules and .warrant, keeps modes, and writes in bounded batches", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({
        "a.txt": "a", "b.txt": "b", "c/d.txt": "d", "c/e.txt": "e", "f.txt": "f",
        ".git/config": "git", "node_modules/x/index.js": "nm", ".warrant/state": "w", "c/node_modules/y.js": "nm"
      })
      const result = yield* runWith(fake, workspace, execution("find . -type f | sort"), [], { staging: { maxFiles: 2 } })
      expect(result.log).toBe("./a.txt\n./b.txt\n./c/d.txt\n./c/e.txt\n./f.txt\n")
      const batches = fake.writes.map((batch) => batch.map((f) => f.path))
      expect(batches).toEqual([
        [`${WORKDIR}/a.txt`, `${WORKDIR}/b.txt`],
        [`${WORKDIR}/c/d.txt`, `${WORKDIR}/c/e.txt`],
        [`${WORKDIR}/f.txt`],
        [VercelSandbox.SCRIPT_PATH]
      ])
      expect(fake.writes[0]?.[0]?.mode).toBe(0o644)
      expect(fake.writes[3]?.[0]?.mode).toBe(0o700)
    }))

  it.scoped("a local symlink is never staged, so nothing outside the workspace reaches the VM", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel()
      const workspace = yield* workspaceWith({ "a.txt": "a" })
      const outside = yield* workspaceWith({ "secret.txt": "outside secret" })
      symlinkSync(join(outside, "secret.txt"), join(workspace, "leak.txt"))
      const result = yield* runWith(fake, workspace, execution("ls"))
      expect(result.log).toBe("warrant: 1 symbolic link(s) not staged into the sandbox: \"leak.txt\"\na.txt\n")
      expect(fake.writes.flat().map((f) => f.path)).toEqual([`${WORKDIR}/a.txt`, VercelSandbox.SCRIPT_PATH])
      expect(existsSync(join(workspace, "leak.txt"))).toBe(true)
    }))
})

describe("mirroring back", () => {
  it.scoped("new and modified files come back; unchanged ones are not even read", () =>
    Effect.gen(function*() {
      const { exit, fake, workspace } = yield* session(
        "echo changed > a.txt; mkdir -p new/dir; echo fresh > new/dir/n.txt; printf '#!/bin/sh\\n' > run.sh; chmod +x run.sh",
        { "a.txt": "a", "same.txt": "same" }
      )
      expect(exit).toEqual(Exit.succeed(ok("")))
      expect(readFileSync(join(workspace, "a.txt"), "utf8")).toBe("changed\n")
      expect(readFileSync(join(workspace, "new/dir/n.txt"), "utf8")).toBe("fresh\n")
      expect(readFileSync(join(workspace, "same.txt"), "utf8")).toBe("same")
      expect(readFileSync(join(workspace, "run.sh"), "utf8")).toBe("#!/bin/sh\n")
      expect(fake.reads.sort()).toEqual([`${WORKDIR}/a.txt`, `${WORKDIR}/new/dir/n.txt`, `${WORKDIR}/run.sh`])
    }))

  it.scoped("a file deleted in the VM is deleted locally; skipped directories are never touched", () =>
    Effect.gen(function*() {
      const { exit, workspace } = yield* session("rm gone.txt sub/also.txt; rm -rf empty", {
        "gone.txt": "g", "keep.txt": "k", "sub/also.txt": "x", "empty/only.txt": "o",
        ".git/config": "git", "node_modules/m.js": "m", ".warrant/s": "s"
      })
      expect(exit).toEqual(Exit.succeed(ok("")))
      expect(existsSync(join(workspace, "gone.txt"))).toBe(false)
      expect(existsSync(join(workspace, "sub"))).toBe(false)
      expect(existsSync(join(workspace, "empty"))).toBe(false)
      expect(readFileSync(join(workspace, "keep.txt"), "utf8")).toBe("k")
      expect(readFileSync(join(workspace, ".git/config"), "utf8")).toBe("git")
      expect(readFileSync(join(workspace, "node_modules/m.js"), "utf8")).toBe("m")
      expect(readFileSync(join(workspace, ".warrant/s"), "utf8")).toBe("s")
    }))

  it.scoped("escape attempts are refused and noted; nothing is written outside the workspace or into .git", () =>
    Effect.gen(function*() {
      const parent = yield* tempDir("vercel-parent")
      const workspace = join(parent, "ws")
      mkdirSync(join(workspace, ".git"), { recursive: true })
      const outside = join(parent, "outside")
      mkdirSync(outside)
      symlinkSync(outside, join(workspace, "out"))
      const fake = makeFakeVercel({
        extraListing: [
          { path: "../escape.txt", kind: "file", mode: 0o644, sha256: "0".repeat(64) },
          { path: "/etc/cron.d/x", kind: "file", mode: 0o644, sha256: "0".repeat(64) },
          { path: ".git/hooks/pre-commit", kind: "file", mode: 0o755, sha256: "0".repeat(64) }
        ]
      })
      const result = yield* runWith(fake, workspace, execution("ln -s /etc/passwd link; mkdir -p out; echo pwned > out/x.txt; echo ok"))
      expect(result).toEqual(ok([
        "warrant: 1 symbolic link(s) not staged into the sandbox: \"out\"\n",
        "ok\n",
        "warrant: not mirrored back \"link\": a symbolic link in the sandbox, which is never followed or recreated\n",
        "warrant: not mirrored back \"../escape.txt\": a path refused because it has a '..' segment\n",
        "warrant: not mirrored back \"/etc/cron.d/x\": a path refused because it is absolute\n",
        "warrant: not mirrored back \".git/hooks/pre-commit\": a path inside .git, which is never mirrored back\n",
        "warrant: not mirrored back \"out/x.txt\": a local parent directory is a symbolic link\n"
      ].join("")))
      expect(readdirSync(outside)).toEqual([])
      expect(readdirSync(parent).sort()).toEqual(["outside", "ws"])
      expect(readdirSync(join(workspace, ".git"))).toEqual([])
      expect(existsSync(join(workspace, "link"))).toBe(false)
      expect(fake.reads).toEqual([`${WORKDIR}/out/x.txt`])
    }))

  it.scoped("a malformed listing fails the session and changes nothing locally", () =>
    Effect.gen(function*() {
      const { exit, fake, workspace } = yield* session("rm a.txt", { "a.txt": "a" }, { rawListing: "garbage" })
      expect(exit).toEqual(Exit.fail(expect.objectContaining({
        reason: "the sandbox's file listing is malformed: it does not end with a NUL"
      })))
      expect(readFileSync(join(workspace, "a.txt"), "utf8")).toBe("a")
      expect(fake.stops).toBe(1)
    }))
})

describe("stopping the sandbox", () => {
  it.scoped("after success", () =>
    Effect.gen(function*() {
      const { exit, fake } = yield* session("echo hi")
      expect(exit).toEqual(Exit.succeed(ok("hi\n")))
      expect(fake.stops).toBe(1)
    }))

  it.scoped("after the command could not be run", () =>
    Effect.gen(function*() {
      const { exit, fake } = yield* session("true", {}, { failCommand: "connection reset" })
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ reason: "the command could not be run in the sandbox: connection reset" })))
      expect(fake.stops).toBe(1)
    }))

  it.scoped("after the sandbox was created but staging failed", () =>
    Effect.gen(function*() {
      const { exit, fake } = yield* session("true", { "a.txt": "a" }, { failWriteAt: 0 })
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ reason: "staging the workspace into the sandbox failed: write 0 refused" })))
      expect(fake.commands).toEqual([])
      expect(fake.stops).toBe(1)
    }))

  it.scoped("a failed script write says so without the script or its secret", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel({ failWriteAt: 0 })
      const workspace = yield* workspaceWith({})
      const exit = yield* Effect.exit(runWith(fake, workspace, execution("true", { env: { T: secretRef("S") } }), [released("S", "script-secret")]))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ reason: "the session script could not be written to the sandbox" })))
      expect(JSON.stringify(exit)).not.toContain("script-secret")
      expect(fake.stops).toBe(1)
    }))

  it.scoped("on interruption", () =>
    Effect.gen(function*() {
      const fake = makeFakeVercel({ hang: true })
      const workspace = yield* workspaceWith({})
      const fiber = yield* Effect.fork(runWith(fake, workspace, execution("true")))
      yield* Effect.promise(() => fake.started)
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(fake.aborted).toBe(true)
      expect(fake.stops).toBe(1)
    }))

  it.scoped("a stop failure after success is logged, not fatal, and the log line holds no token", () =>
    Effect.gen(function*() {
      const lines: Array<{ level: string; message: unknown; annotations: unknown }> = []
      const logger = Logger.make(({ annotations, logLevel, message }) =>
        lines.push({ level: logLevel.label, message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) }))
      const { exit, fake } = yield* session("echo fine", {}, { failStop: "stop refused for vercel-token-value" }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      expect(exit).toEqual(Exit.succeed(ok("fine\n")))
      expect(fake.stops).toBe(1)
      expect(lines).toEqual([{
        level: "WARN",
        message: ["the Vercel sandbox could not be stopped after the session; it ends at its own timeout"],
        annotations: { tier: "vercel-sandbox", error: "stop refused for [REDACTED:VERCEL_TOKEN]" }
      }])
    }))

  it.scoped("after a failure the original error wins over a failed stop", () =>
    Effect.gen(function*() {
      const { exit, fake } = yield* session("true", {}, { failCommand: "boom", failStop: "stop refused" })
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ reason: "the command could not be run in the sandbox: boom" })))
      expect(fake.stops).toBe(1)
    }))
})

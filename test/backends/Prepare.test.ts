import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { MOCK_AGENT_SCRIPT } from "../../src/backends/Agents.js"
import { DEFAULT_TIMEOUT_MS, executionHash, prepareExecution } from "../../src/backends/Prepare.js"
import type { Contract } from "../../src/protocol/Contract.js"
import type { AgentKind, RunId } from "../../src/protocol/Ids.js"
import { sampleContract } from "../../src/testkit/SampleRun.js"

const base = sampleContract({ runId: "run_prepare" as RunId, now: Date.parse("2026-11-23T00:00:00Z") })
const contract = (patch: (c: Contract) => Contract = (c) => c): Contract =>
  patch({ ...base, issuer: { keyId: `ed25519:${"a".repeat(64)}` }, signatures: [] } as unknown as Contract)
const withExecution = (execution: Partial<Contract["execution"]>) => (c: Contract): Contract => ({ ...c, execution: { ...c.execution, ...execution } })
const withEnv = (env: Partial<Contract["execution"]["env"]>) => (c: Contract): Contract => ({
  ...c,
  execution: { ...c.execution, env: { ...c.execution.env, ...env } }
})
const prepare = (c: Contract, options: { inheritEnv?: ReadonlyArray<string>; released?: ReadonlyArray<string>; hostEnv?: Record<string, string> } = {}) =>
  prepareExecution({ contract: c, policy: { inheritEnv: (options.inheritEnv ?? []) as never }, released: options.released ?? [], hostEnv: options.hostEnv ?? {} })
const prepared = (...args: Parameters<typeof prepare>) => Either.getOrThrow(prepare(...args))

describe("prepareExecution: commands", () => {
  const agentContract = (kind: AgentKind, prompt: string) =>
    contract((c) => ({ ...c, agent: { kind }, task: { prompt }, execution: { ...c.execution, command: { kind: "agent" } } }))

  it("claude-code runs claude -p PROMPT --permission-mode acceptEdits", () => {
    expect(prepared(agentContract("claude-code", "fix the test")).command).toEqual({
      kind: "argv",
      argv: ["claude", "-p", "fix the test", "--permission-mode", "acceptEdits"]
    })
  })

  it("codex runs codex exec --skip-git-repo-check PROMPT", () => {
    expect(prepared(agentContract("codex", "fix it")).command).toEqual({ kind: "argv", argv: ["codex", "exec", "--skip-git-repo-check", "fix it"] })
  })

  it("command runs the prompt as a sh script", () => {
    expect(prepared(agentContract("command", "echo hi && ls")).command).toEqual({ kind: "shell", shell: "sh", script: "echo hi && ls" })
  })

  it("mock runs the shipped script with its task in WARRANT_TASK, never spliced into the script", () => {
    const execution = prepared(agentContract("mock", "'; rm -rf / #"))
    expect(execution.command).toEqual({ kind: "shell", shell: "sh", script: MOCK_AGENT_SCRIPT })
    expect(execution.env["WARRANT_TASK"]).toEqual({ _tag: "Literal", value: "'; rm -rf / #" })
  })

  it("pi is prepared as harness-only argv, for a tier to refuse by name", () => {
    const execution = prepared(agentContract("pi", "task"))
    expect([execution.agent, execution.command]).toEqual(["pi", { kind: "argv", argv: ["pi", "task"] }])
  })

  it("an explicit argv and shell pass through unchanged", () => {
    expect(prepared(contract(withExecution({ command: { kind: "argv", argv: ["node", "-e", "1"] } }))).command).toEqual({ kind: "argv", argv: ["node", "-e", "1"] })
    expect(prepared(contract(withExecution({ command: { kind: "shell", shell: "bash", script: "echo $0" } }))).command).toEqual({ kind: "shell", shell: "bash", script: "echo $0" })
  })
})

describe("prepareExecution: cwd, timeout, log cap", () => {
  it.each([
    [".", "."],
    ["src", "src"],
    ["src/", "src"],
    ["src/./lib", "src/lib"],
    ["a/b/../c", "a/c"]
  ])("cwd %j resolves to %j inside the workspace", (cwd, expected) => {
    expect(prepared(contract(withExecution({ cwd: cwd as never }))).cwd).toBe(expected)
  })

  it.each(["..", "../x", "a/../../b", "/etc"])("cwd %j escaping the workspace is ExecutionRefused", (cwd) => {
    const result = prepare(contract(withExecution({ cwd: cwd as never })))
    expect(Either.isLeft(result) && [result.left._tag, result.left.reason]).toEqual(["ExecutionRefused", "cwd-escapes-workspace"])
  })

  it("the timeout comes from the spec, else the duration budget, else 10 minutes", () => {
    expect(prepared(contract(withExecution({ timeoutMs: 1234 }))).timeoutMs).toBe(1234)
    const noSpec = (c: Contract): Contract => {
      const { timeoutMs: _, ...execution } = c.execution
      return { ...c, execution }
    }
    expect(prepared(contract((c) => ({ ...noSpec(c), budget: { maxDurationMin: 2 } }))).timeoutMs).toBe(120_000)
    expect(prepared(contract((c) => ({ ...noSpec(c), budget: {} }))).timeoutMs).toBe(DEFAULT_TIMEOUT_MS)
    expect(DEFAULT_TIMEOUT_MS).toBe(600_000)
  })

  it("the log cap comes from the spec", () => {
    expect(prepared(contract(withExecution({ log: { maxBytes: 777 } }))).logMaxBytes).toBe(777)
  })
})

describe("prepareExecution: environment", () => {
  it("inherits only names the policy lists, with the host's values; a missing host value is absent", () => {
    const c = contract(withEnv({ inherit: ["LANG", "TZ"] as never, vars: {} }))
    const execution = prepared(c, { inheritEnv: ["LANG", "TZ"], hostEnv: { LANG: "C.UTF-8", SECRET_HOST: "x" } })
    expect(execution.env).toEqual({ LANG: { _tag: "Literal", value: "C.UTF-8" } })
  })

  it("a contract inheriting a name the policy does not list is refused, not trusted", () => {
    const result = prepare(contract(withEnv({ inherit: ["AWS_SECRET_ACCESS_KEY"] as never })), { inheritEnv: ["LANG"], hostEnv: { AWS_SECRET_ACCESS_KEY: "k" } })
    expect(Either.isLeft(result) && [result.left.reason, result.left.detail]).toEqual([
      "inherit-not-allowed",
      "the contract inherits AWS_SECRET_ACCESS_KEY, which the policy's inheritEnv does not list"
    ])
  })

  it("literal vars are passed; a released secret mapping is a placeholder; an unreleased one is absent", () => {
    const c = contract(withEnv({
      vars: { CI: "1" },
      secrets: [
        { env: "NPM_TOKEN", secretName: "npm" },
        { env: "GH_TOKEN", secretName: "github" }
      ] as never
    }))
    expect(prepared(c, { released: ["npm"] }).env).toEqual({
      CI: { _tag: "Literal", value: "1" },
      NPM_TOKEN: { _tag: "Secret", secret: "npm" }
    })
  })

  it("an unreleased secret mapping also removes a literal of the same name, never leaving a stand-in", () => {
    const c = contract(withEnv({ vars: { GH_TOKEN: "placeholder" }, secrets: [{ env: "GH_TOKEN", secretName: "github" }] as never }))
    expect(prepared(c).env).toEqual({})
  })

  it("egressProxy and the network policy come from the contract", () => {
    const execution = prepared(contract(withEnv({ egressProxy: false })))
    expect([execution.egressProxy, execution.network]).toEqual([false, { defaultDeny: true, allowHosts: ["registry.npmjs.org"] }])
  })
})

describe("executionHash", () => {
  it("is stable, covers the shape, and names secrets without values", () => {
    const c = contract(withEnv({ secrets: [{ env: "NPM_TOKEN", secretName: "npm" }] as never }))
    const a = prepared(c, { released: ["npm"] })
    expect(executionHash(a)).toBe(executionHash(prepared(c, { released: ["npm"] })))
    expect(executionHash(a)).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(executionHash(a)).not.toBe(executionHash({ ...a, cwd: "src" }))
    expect(executionHash(a)).not.toBe(executionHash({ ...a, timeoutMs: a.timeoutMs + 1 }))
    expect(executionHash(a)).not.toBe(executionHash(prepared(c)))
  })
})

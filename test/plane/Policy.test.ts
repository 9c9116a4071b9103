import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { RunRequest } from "../../src/plane/ApiModel.js"
import { evaluate, type Evaluation } from "../../src/plane/Policy.js"
import { Policy } from "../../src/protocol/Policy.js"

// Fixtures in their encoded (wire) form, decoded through the real schemas so every branded
// value is one decoding would accept.
type PolicyIn = typeof Policy.Encoded
type RequestIn = typeof RunRequest.Encoded
type ExecutionIn = RequestIn["execution"]
type EnvIn = ExecutionIn["env"]

const basePolicy: PolicyIn = {
  version: "warrant.policy.v1",
  pools: ["default"],
  agents: ["claude-code", "mock", "command"],
  isolationTiers: ["process", "namespace"],
  network: {
    defaultDeny: true,
    allowHosts: ["registry.npmjs.org", "*.example.com", "api.internal.test:443", "10.1.2.3", "[2001:db8::1]"],
    allowAddresses: ["10.0.0.0/8", "169.254.0.0/16"]
  },
  releasableSecrets: ["NPM_TOKEN"],
  inheritEnv: ["PATH", "HOME"],
  budget: { maxDurationMin: 30, maxSpendUsd: 5, maxTimeoutMs: 600_000 },
  consent: [],
  enforce: ["network"]
}

const baseRequest: RequestIn = {
  agent: "claude-code",
  task: { prompt: "fix the failing test" },
  execution: {
    command: { kind: "agent" },
    cwd: ".",
    timeoutMs: 300_000,
    log: { maxBytes: 1_048_576 },
    env: { inherit: ["PATH"], vars: { CI: "1" }, secrets: [{ env: "NPM_TOKEN", secretName: "NPM_TOKEN" }], egressProxy: true }
  },
  pool: "default",
  isolation: { tier: "process", enforce: [] },
  workspace: { version: "warrant.manifest.v1", source: "directory", files: [], denied: [], deniedPatterns: [] },
  network: { defaultDeny: true, allowHosts: ["registry.npmjs.org"] },
  budget: { maxDurationMin: 10, maxSpendUsd: 1 },
  disclosure: "metadata-only"
}

const policy = (patch: Partial<PolicyIn> = {}): Policy => Schema.decodeUnknownSync(Policy)({ ...basePolicy, ...patch })

const request = (patch: Partial<RequestIn> = {}, execution: Partial<ExecutionIn> = {}, env: Partial<EnvIn> = {}): RunRequest =>
  Schema.decodeUnknownSync(RunRequest)({
    ...baseRequest,
    ...patch,
    execution: { ...baseRequest.execution, ...execution, env: { ...baseRequest.execution.env, ...env } }
  })

const hosts = (...allowHosts: Array<string>): Partial<RequestIn> => ({ network: { defaultDeny: true, allowHosts } })
const addresses = (...allowAddresses: Array<string>): Partial<RequestIn> => ({ network: { defaultDeny: true, allowHosts: [], allowAddresses } })
const rules = (evaluation: Evaluation): ReadonlyArray<string> => evaluation.violations.map((v) => v.rule)
const shell = { command: { kind: "shell", shell: "sh", script: "npm test" } } as const
const argv = (...args: [string, ...Array<string>]): Partial<ExecutionIn> => ({ command: { kind: "argv", argv: args } })

describe("evaluate: allow and effective values", () => {
  it("allows a request inside the policy and reports the effective values", () => {
    expect(evaluate(policy(), request())).toEqual({
      decision: "allow",
      violations: [],
      consentRules: [],
      agent: "claude-code",
      timeoutMs: 300_000,
      budget: { maxDurationMin: 10, maxSpendUsd: 1 },
      enforce: ["network"]
    })
  })

  it("fills in the policy's ceilings where the request gives none", () => {
    const bare = request({ budget: {} }, { timeoutMs: undefined })
    expect(evaluate(policy(), bare)).toMatchObject({ decision: "allow", timeoutMs: 600_000, budget: { maxDurationMin: 30, maxSpendUsd: 5 } })
    const partial = request({ budget: { maxDurationMin: 7 } })
    expect(evaluate(policy(), partial).budget).toEqual({ maxDurationMin: 7, maxSpendUsd: 5 })
    const noCeilings = evaluate(policy({ budget: {} }), bare)
    expect([noCeilings.timeoutMs, noCeilings.budget]).toEqual([undefined, {}])
  })

  it("enforces the union of the policy's and the request's dimensions, in canonical order", () => {
    const evaluation = evaluate(policy({ enforce: ["env", "network"] }), request({ isolation: { tier: "process", enforce: ["write", "read", "network"] } }))
    expect(evaluation.enforce).toEqual(["read", "write", "network", "env"])
  })

  it("accepts values exactly at a ceiling", () => {
    const atLimit = request({ budget: { maxDurationMin: 30, maxSpendUsd: 5 } }, { timeoutMs: 600_000 })
    expect(evaluate(policy(), atLimit).decision).toBe("allow")
  })
})

describe("evaluate: pool, agent, tier", () => {
  it("denies a pool, an agent or a tier the policy does not list, saying what to do", () => {
    const pool = evaluate(policy(), request({ pool: "gpu" }))
    expect(pool.violations).toEqual([{
      rule: "pool",
      message: "the request asks for pool \"gpu\", but the policy allows \"default\"; choose one of those or ask an admin to add it"
    }])
    expect(rules(evaluate(policy(), request({ agent: "codex" })))).toEqual(["agent"])
    expect(rules(evaluate(policy(), request({ isolation: { tier: "container", enforce: [] } })))).toEqual(["tier"])
  })

  it("judges a shell execution as the command agent, whatever the request names", () => {
    const evaluation = evaluate(policy({ agents: ["claude-code"] }), request({ agent: "claude-code" }, shell))
    expect(evaluation.decision).toBe("deny")
    expect(evaluation.agent).toBe("command")
    expect(rules(evaluation)).toEqual(["agent"])
    expect(evaluation.violations[0]!.message).toContain("agent \"claude-code\" with a shell execution, which runs as agent \"command\"")
  })

  it("judges an argv execution as the command agent", () => {
    expect(evaluate(policy(), request({ agent: "mock" }, argv("npm", "test")))).toMatchObject({ decision: "allow", agent: "command" })
  })
})

describe("evaluate: network cannot be loosened", () => {
  it("denies turning default-deny off", () => {
    expect(rules(evaluate(policy(), request({ network: { defaultDeny: false, allowHosts: [] } })))).toEqual(["network.defaultDeny"])
  })

  it("denies turning the egress proxy off", () => {
    expect(rules(evaluate(policy(), request({}, {}, { egressProxy: false })))).toEqual(["network.egressProxy"])
  })

  it("covers subdomains and narrower wildcards by a policy wildcard, not its apex", () => {
    const allowed = evaluate(policy(), request(hosts("api.example.com", "*.example.com", "*.eu.example.com", "a.b.example.com")))
    expect(allowed.violations).toEqual([])
    expect(rules(evaluate(policy(), request(hosts("example.com"))))).toEqual(["network.host"])
  })

  it("denies a wildcard request under an exact policy host", () => {
    const evaluation = evaluate(policy(), request(hosts("*.npmjs.org")))
    expect(rules(evaluation)).toEqual(["network.host"])
    expect(evaluation.violations[0]!.message).toContain("no policy entry covers that host")
  })

  it("denies a port a portless policy entry does not admit", () => {
    const evaluation = evaluate(policy(), request(hosts("api.example.com:8443")))
    expect(rules(evaluation)).toEqual(["network.host"])
    expect(evaluation.violations[0]!.message).toContain("the policy allows that host on other ports only")
    expect(evaluate(policy(), request(hosts("api.example.com:443", "api.example.com:80"))).decision).toBe("allow")
  })

  it("needs the same port for a policy entry with a port, and a portless policy entry for a portless request", () => {
    expect(evaluate(policy(), request(hosts("api.internal.test:443"))).decision).toBe("allow")
    expect(rules(evaluate(policy(), request(hosts("api.internal.test", "api.internal.test:80"))))).toEqual(["network.host", "network.host"])
  })

  it("compares hosts canonically: case, a trailing dot, IPv4 and IPv6 spellings", () => {
    const evaluation = evaluate(policy(), request(hosts("REGISTRY.NpmJS.org.", "0x0a.1.2.3", "167838211", "10.1.515", "[2001:0db8:0:0:0:0:0:1]")))
    expect(evaluation.violations).toEqual([])
    expect(rules(evaluate(policy(), request(hosts("10.1.2.4", "[2001:db8::2]"))))).toEqual(["network.host", "network.host"])
  })

  it("reports every invalid host entry by name", () => {
    const evaluation = evaluate(policy(), request(hosts("user@example.com", "*.com", "registry.npmjs.org")))
    expect(rules(evaluation)).toEqual(["network.host", "network.host"])
    expect(evaluation.violations[0]!.message).toContain("\"user@example.com\" is invalid")
    expect(evaluation.violations[1]!.message).toContain("\"*.com\" is invalid")
  })

  it("under a default-allow policy allows any host, the proxy off and default-deny off, but not invalid entries", () => {
    const open = policy({ network: { defaultDeny: false, allowHosts: [] } })
    const anything = request({ network: { defaultDeny: false, allowHosts: ["anything.test:8443", "*.other.test"] } }, {}, { egressProxy: false })
    expect(evaluate(open, anything).decision).toBe("allow")
    expect(rules(evaluate(open, request(hosts("bad!host", "1.2.3.256"))))).toEqual(["network.host", "network.host"])
  })

  it("needs every address block inside a policy block, whatever the policy's default", () => {
    expect(evaluate(policy(), request(addresses("10.1.0.0/16", "10.2.3.4", "::ffff:10.0.0.1"))).violations).toEqual([])
    expect(rules(evaluate(policy(), request(addresses("192.168.0.0/16", "0.0.0.0/0", "10.0.0.1/8"))))).toEqual([
      "network.address",
      "network.address",
      "network.address"
    ])
    const open = policy({ network: { defaultDeny: false, allowHosts: [] } })
    expect(rules(evaluate(open, request({ network: { defaultDeny: false, allowHosts: [], allowAddresses: ["127.0.0.1"] } })))).toEqual(["network.address"])
  })

  it("unlocks a metadata address only when the policy names exactly it", () => {
    const metadata = request(addresses("169.254.169.254"))
    expect(rules(evaluate(policy(), metadata))).toEqual(["network.address"])
    expect(evaluate(policy(), request(addresses("169.254.1.0/24"))).decision).toBe("allow")
    const exact = policy({ network: { ...basePolicy.network, allowAddresses: ["169.254.169.254"] } })
    expect(evaluate(exact, metadata).decision).toBe("allow")
  })
})

describe("evaluate: environment, secrets, timeout and budget", () => {
  it("denies inheriting a host variable the policy does not list", () => {
    const evaluation = evaluate(policy(), request({}, {}, { inherit: ["PATH", "AWS_SECRET_ACCESS_KEY", "SSH_AUTH_SOCK"] }))
    expect(rules(evaluation)).toEqual(["env.inherit", "env.inherit"])
    expect(evaluation.violations[0]!.message).toContain("\"AWS_SECRET_ACCESS_KEY\"")
  })

  it("denies a secret the policy does not release", () => {
    expect(rules(evaluate(policy(), request({}, {}, { secrets: [{ env: "TOKEN", secretName: "PROD_DB" }] })))).toEqual(["secret"])
  })

  it("denies a timeout and a budget over the ceilings", () => {
    expect(rules(evaluate(policy(), request({}, { timeoutMs: 600_001 })))).toEqual(["timeout"])
    const evaluation = evaluate(policy(), request({ budget: { maxDurationMin: 31, maxSpendUsd: 5.01 } }))
    expect(rules(evaluation)).toEqual(["budget.maxDurationMin", "budget.maxSpendUsd"])
    expect(evaluation.violations[0]!.message).toBe("the request asks for a duration (min) of 31, over the policy's ceiling of 30; ask for at most 30")
  })
})

describe("evaluate: command allowlist", () => {
  const listed = policy({ agents: ["claude-code", "codex", "mock", "command"], commands: ["git", "npm", "claude", "/usr/local/bin/node", "sh"] })

  it("admits a listed argv executable, by bare name or by the exact path", () => {
    expect(evaluate(listed, request({}, argv("git", "status"))).decision).toBe("allow")
    expect(evaluate(listed, request({}, argv("/usr/local/bin/node", "index.js"))).decision).toBe("allow")
  })

  it("does not admit a path whose basename alone is listed", () => {
    const absolute = evaluate(listed, request({}, argv("/usr/bin/git", "status")))
    expect(rules(absolute)).toEqual(["command"])
    expect(absolute.violations[0]!.message).toContain("\"git\" is listed, so run it by that name")
    expect(rules(evaluate(listed, request({}, argv("./git"))))).toEqual(["command"])
    expect(rules(evaluate(listed, request({}, argv("curl", "https://example.com"))))).toEqual(["command"])
  })

  it("denies a shell execution, even with the shell listed", () => {
    expect(rules(evaluate(listed, request({}, shell)))).toEqual(["command"])
  })

  it("checks an agent by its executable, and refuses agents whose command line is a script", () => {
    expect(evaluate(listed, request({ agent: "claude-code" })).decision).toBe("allow")
    expect(rules(evaluate(listed, request({ agent: "codex" })))).toEqual(["command"])
    expect(rules(evaluate(listed, request({ agent: "mock" })))).toEqual(["command"])
  })

  it("checks nothing without an allowlist", () => {
    expect(evaluate(policy(), request({}, shell)).decision).toBe("allow")
  })
})

describe("evaluate: consent", () => {
  type Rule = PolicyIn["consent"][number]
  const withRules = (...consent: Array<Rule>) => policy({ consent })

  it("asks when a rule with no criteria matches everything", () => {
    expect(evaluate(withRules({ id: "always", when: {}, decision: "ask" }), request())).toMatchObject({ decision: "ask", consentRules: ["always"] })
  })

  it("matches only when every listed criterion matches", () => {
    const both = withRules({ id: "full-on-namespace", when: { tiers: ["namespace"], disclosures: ["full"] }, decision: "ask" })
    expect(evaluate(both, request({ isolation: { tier: "namespace", enforce: [] }, disclosure: "full" })).consentRules).toEqual(["full-on-namespace"])
    expect(evaluate(both, request({ isolation: { tier: "namespace", enforce: [] } }))).toMatchObject({ decision: "allow", consentRules: [] })
    expect(evaluate(both, request({ disclosure: "full" })).consentRules).toEqual([])
  })

  it("matches agents on the effective agent", () => {
    const commands = withRules({ id: "commands", when: { agents: ["command"] }, decision: "ask" })
    expect(evaluate(commands, request({ agent: "claude-code" }, shell))).toMatchObject({ decision: "ask", consentRules: ["commands"] })
    expect(evaluate(commands, request()).decision).toBe("allow")
  })

  it("matches any requested secret", () => {
    const npm = withRules({ id: "npm", when: { secrets: ["OTHER", "NPM_TOKEN"] }, decision: "ask" })
    expect(evaluate(npm, request()).consentRules).toEqual(["npm"])
    expect(evaluate(npm, request({}, {}, { secrets: [] })).consentRules).toEqual([])
  })

  it("matches hosts canonically, and a wider request wildcard or open egress reaches them too", () => {
    const api = withRules({ id: "api", when: { hosts: ["API.example.com."] }, decision: "ask" })
    expect(evaluate(api, request(hosts("api.example.com:443"))).consentRules).toEqual(["api"])
    expect(evaluate(api, request(hosts("*.example.com"))).consentRules).toEqual(["api"])
    expect(evaluate(api, request(hosts("www.example.com"))).consentRules).toEqual([])
    const open = policy({ network: { defaultDeny: false, allowHosts: [] }, consent: [{ id: "api", when: { hosts: ["api.example.com"] }, decision: "ask" }] })
    expect(evaluate(open, request({ network: { defaultDeny: false, allowHosts: [] } })).consentRules).toEqual(["api"])
  })

  it("reports matched rules but denies when anything is violated", () => {
    const evaluation = evaluate(withRules({ id: "always", when: {}, decision: "ask" }), request({ pool: "gpu" }))
    expect([evaluation.decision, evaluation.consentRules, rules(evaluation)]).toEqual(["deny", ["always"], ["pool"]])
  })
})

describe("evaluate: several violations", () => {
  it("reports every violated rule together", () => {
    const everything = request(
      {
        agent: "codex",
        pool: "gpu",
        isolation: { tier: "container", enforce: [] },
        network: { defaultDeny: false, allowHosts: ["api.example.com:8443", "*.npmjs.org"], allowAddresses: ["192.168.1.1"] },
        budget: { maxDurationMin: 60, maxSpendUsd: 50 }
      },
      { timeoutMs: 3_600_000 },
      { inherit: ["HOME", "GITHUB_TOKEN"], secrets: [{ env: "DB", secretName: "PROD_DB" }], egressProxy: false }
    )
    const evaluation = evaluate(policy({ commands: ["git"] }), everything)
    expect(evaluation.decision).toBe("deny")
    expect(rules(evaluation)).toEqual([
      "pool",
      "agent",
      "tier",
      "network.defaultDeny",
      "network.egressProxy",
      "network.host",
      "network.host",
      "network.address",
      "env.inherit",
      "secret",
      "timeout",
      "budget.maxDurationMin",
      "budget.maxSpendUsd",
      "command"
    ])
  })
})

/**
 * What a policy decides of a run request: every rule the request breaks, the consent rules it
 * trips, and the effective agent, timeout, budget and enforced dimensions a contract would
 * carry. A request may narrow the policy, never widen it. Pure, so create and dry-run agree.
 */
import { Either, Option } from "effect"
import { agentCommand } from "../backends/Agents.js"
import { type Cidr, contains } from "../egress/Address.js"
import { compile, type HostRule, type InvalidEgressPolicy } from "../egress/EgressPolicy.js"
import { classify } from "../egress/Ranges.js"
import type { Budget } from "../protocol/Contract.js"
import { type AgentKind, type Dimension, dimensions } from "../protocol/Ids.js"
import type { ConsentRule, Policy } from "../protocol/Policy.js"
import type { Violation } from "./ApiErrors.js"
import type { RunRequest } from "./ApiModel.js"

export interface Evaluation {
  readonly decision: "allow" | "ask" | "deny"
  /** Every violated rule, one entry per offending value, not just the first. */
  readonly violations: ReadonlyArray<Violation>
  /** Ids of the consent rules that matched; they make the decision "ask" when nothing is violated. */
  readonly consentRules: ReadonlyArray<string>
  /** The agent that would run: an argv or shell execution is "command", whatever `request.agent` says. */
  readonly agent: AgentKind
  /** The request's timeout, or the policy's ceiling when the request gives none. */
  readonly timeoutMs: number | undefined
  /** The request's budget, with the policy's ceilings filled in where the request gives none. */
  readonly budget: Budget
  /** The policy's and the request's demands together, in the order of `dimensions`. */
  readonly enforce: ReadonlyArray<Dimension>
}

const violation = (rule: string, message: string): Violation => ({ rule, message })
const q = (value: string | number): string => JSON.stringify(value)
const listed = (values: ReadonlyArray<string>): string => (values.length === 0 ? "none" : values.map(q).join(", "))

// One entry at a time through the egress compiler, so every invalid entry is reported and the
// plane reads hosts and addresses exactly as the proxy will.
const compileHost = (entry: string): Either.Either<HostRule, InvalidEgressPolicy> =>
  Either.map(compile({ defaultDeny: true, allowHosts: [entry] }), (compiled) => compiled.rules[0]!)
const compileAddress = (entry: string): Either.Either<Cidr, InvalidEgressPolicy> =>
  Either.map(compile({ defaultDeny: true, allowHosts: [], allowAddresses: [entry] }), (compiled) => compiled.allowAddresses[0]!)

/** An invalid policy entry covers nothing: the policy fails closed rather than guessing. */
const validOnly = <A>(results: ReadonlyArray<Either.Either<A, InvalidEgressPolicy>>): Array<A> =>
  results.flatMap((result) => (Either.isRight(result) ? [result.right] : []))

/** `*.d` covers names under d and wildcards at or under d (not d itself, as at the proxy); an exact entry only itself. */
const hostCovers = (outer: HostRule, inner: HostRule): boolean =>
  outer.wildcard
    ? inner.host.endsWith(`.${outer.host}`) || (inner.wildcard && inner.host === outer.host)
    : !inner.wildcard && inner.host === outer.host

/** A portless entry admits 443 (CONNECT) and 80 (plain HTTP) at the proxy. */
const portsOf = (rule: HostRule): ReadonlyArray<number> => (rule.port === undefined ? [443, 80] : [rule.port])

/**
 * A portless request entry needs a portless policy entry (a 443 and an 80 entry together would
 * do too, but a denial is easier to act on when one entry answers it).
 */
const portCovers = (outer: HostRule, inner: HostRule): boolean =>
  inner.port === undefined ? outer.port === undefined : portsOf(outer).includes(inner.port)

/** Could the two entries name one destination? For consent, where matching more is the safe side. */
const overlaps = (a: HostRule, b: HostRule): boolean =>
  (hostCovers(a, b) || hostCovers(b, a)) && portsOf(a).some((port) => portsOf(b).includes(port))

const isSingle = (block: Cidr): boolean => block.prefix === (block.address.family === 4 ? 32 : 128)
const isMetadata = (block: Cidr): boolean =>
  Option.exists(classify(block.address), (refusal) => refusal.kind === "metadata")

/**
 * The proxy unlocks a metadata address only for an entry naming exactly it, so a request's
 * exact metadata entry needs the policy's exact entry, not a block around it.
 */
const cidrCovers = (outer: Cidr, inner: Cidr): boolean =>
  inner.prefix >= outer.prefix && contains(outer, inner.address) &&
  (!isSingle(inner) || !isMetadata(inner) || isSingle(outer))

const networkViolations = (policy: Policy, request: RunRequest): Array<Violation> => {
  const out: Array<Violation> = []
  const deny = policy.network.defaultDeny
  if (deny && !request.network.defaultDeny) {
    out.push(violation("network.defaultDeny", "the request sets network.defaultDeny to false, but the policy denies egress by default; set it to true and list the hosts the run needs in network.allowHosts"))
  }
  if (deny && !request.execution.env.egressProxy) {
    out.push(violation("network.egressProxy", "the request turns the egress proxy off (execution.env.egressProxy false), but the policy denies egress by default and only the proxy enforces that; set egressProxy to true"))
  }
  const hosts = validOnly(policy.network.allowHosts.map(compileHost))
  for (const entry of request.network.allowHosts) {
    const rule = compileHost(entry)
    if (Either.isLeft(rule)) {
      out.push(violation("network.host", `the request's network.allowHosts entry ${q(entry)} is invalid (${rule.left.reason}); correct or remove it`))
    } else if (deny && !hosts.some((outer) => hostCovers(outer, rule.right) && portCovers(outer, rule.right))) {
      const portOnly = hosts.some((outer) => hostCovers(outer, rule.right))
      out.push(violation("network.host", `the request allows ${q(entry)}, but ${portOnly ? "the policy allows that host on other ports only" : "no policy entry covers that host"} (policy allowHosts: ${listed(policy.network.allowHosts)}; a portless entry covers ports 443 and 80, a portless request entry needs a portless policy entry); remove it or ask an admin to allow it`))
    }
  }
  // Checked even when the policy allows by default: addresses unlock ranges the proxy refuses regardless.
  const blocks = validOnly((policy.network.allowAddresses ?? []).map(compileAddress))
  for (const entry of request.network.allowAddresses ?? []) {
    const block = compileAddress(entry)
    if (Either.isLeft(block)) {
      out.push(violation("network.address", `the request's network.allowAddresses entry ${q(entry)} is invalid (${block.left.reason}); correct or remove it`))
    } else if (!blocks.some((outer) => cidrCovers(outer, block.right))) {
      out.push(violation("network.address", `the request allows address ${q(entry)}, which no policy allowAddresses block contains (policy allowAddresses: ${listed(policy.network.allowAddresses ?? [])}; a cloud metadata address needs that exact address listed); remove it or ask an admin to allow it`))
    }
  }
  return out
}

/** `allowed` must list `value`; one violation when it does not, saying both. */
const member = <A extends string>(rule: string, what: string, value: A, allowed: ReadonlyArray<A>, fix = "choose one of those"): Array<Violation> =>
  allowed.includes(value) ? [] : [violation(rule, `the request asks for ${what} ${q(value)}, but the policy allows ${listed(allowed)}; ${fix} or ask an admin to add it`)]

const ceiling = (rule: string, what: string, asked: number | undefined, limit: number | undefined): Array<Violation> =>
  asked !== undefined && limit !== undefined && asked > limit
    ? [violation(rule, `the request asks for ${what} ${asked}, over the policy's ceiling of ${limit}; ask for at most ${limit}`)]
    : []

/**
 * The executable a run starts, or none for a shell script. An "agent" execution runs the
 * agent's own command line: claude-code is `claude`; the command and mock agents run scripts.
 */
const executableOf = (request: RunRequest, agent: AgentKind): Option.Option<string> => {
  const command = request.execution.command.kind === "agent" ? agentCommand(agent, "").command : request.execution.command
  return command.kind === "argv" ? Option.some(command.argv[0]) : Option.none()
}

/**
 * `argv[0]` must be listed exactly as written: a bare name, resolved on the runner's PATH, or a
 * path. A path's basename is not enough: `./git` from the workspace would pass as `git`.
 */
const commandViolations = (commands: ReadonlyArray<string>, request: RunRequest, agent: AgentKind): Array<Violation> =>
  Option.match(executableOf(request, agent), {
    onNone: () => [violation("command", `the request runs a shell script (${request.execution.command.kind === "shell" ? "a shell execution" : `the ${agent} agent's command line`}), which a command allowlist cannot check (policy commands: ${listed(commands)}); run an argv whose executable is listed`)],
    onSome: (executable) => {
      if (commands.includes(executable)) return []
      const base = executable.split("/").pop() ?? executable
      const hint = executable.includes("/") && commands.includes(base) ? `; ${q(base)} is listed, so run it by that name, or ask an admin to list the path` : "; run a listed executable or ask an admin to list it"
      return [violation("command", `the request runs ${q(executable)}, which the policy's command allowlist does not list (policy commands: ${listed(commands)})${hint}`)]
    }
  })

/**
 * Every criterion a rule lists must match. A request that allows all egress (defaultDeny false)
 * can reach every listed host, so it matches a hosts criterion whatever its allowHosts say.
 */
const consentMatches = (rule: ConsentRule, request: RunRequest, agent: AgentKind, hosts: ReadonlyArray<HostRule>): boolean => {
  const { agents, disclosures, secrets, tiers } = rule.when
  const ruleHosts = rule.when.hosts === undefined ? undefined : validOnly(rule.when.hosts.map(compileHost))
  return (agents === undefined || agents.includes(agent)) &&
    (tiers === undefined || tiers.includes(request.isolation.tier)) &&
    (secrets === undefined || request.execution.env.secrets.some((s) => secrets.includes(s.secretName))) &&
    (ruleHosts === undefined || !request.network.defaultDeny || hosts.some((h) => ruleHosts.some((r) => overlaps(r, h)))) &&
    (disclosures === undefined || disclosures.includes(request.disclosure))
}

/** What the runner points at the egress proxy itself: a request setting one would steer or bypass it. */
const proxyVariables = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY"]

/**
 * Variables that choose or inject the code a program runs: the executable's lookup (PATH), the
 * dynamic loader (LD_*, DYLD_*), and the start-up hooks of shells and common interpreters. Under
 * a command allowlist, any of them lets a listed executable run something that is not listed.
 */
const codeVariables = ["PATH", "BASH_ENV", "ENV", "NODE_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP", "PERL5OPT", "PERL5LIB", "RUBYOPT", "RUBYLIB"]
const steersCode = (name: string): boolean => codeVariables.includes(name) || name.startsWith("LD_") || name.startsWith("DYLD_")

/**
 * The variables a request sets (`vars`) or fills with a secret (`secrets`) must not weaken the
 * sandbox. Names are compared in upper case: some programs read `http_proxy`, and on some systems
 * `Path` is PATH. Without a command allowlist the request runs code of its choosing anyway, so
 * only the proxy variables are refused then.
 */
const envViolations = (policy: Policy, request: RunRequest): Array<Violation> => {
  const { env } = request.execution
  const named = [
    ...Object.keys(env.vars).map((name) => ({ name, rule: "env.vars", what: `sets ${q(name)}` })),
    ...env.secrets.map(({ env: name, secretName }) => ({ name: name as string, rule: "env.secrets", what: `puts secret ${q(secretName)} in ${q(name)}` }))
  ]
  return named.flatMap(({ name, rule, what }): Array<Violation> => {
    const upper = name.toUpperCase()
    if (proxyVariables.includes(upper)) {
      return [violation(rule, `the request ${what}, a proxy variable: the runner points ${proxyVariables.join(", ")} (in any case) at the egress proxy itself, and a request may not steer or bypass it; remove it`)]
    }
    if (policy.commands !== undefined && steersCode(upper)) {
      return [violation(rule, `the request ${what}, which chooses or injects the code a command runs (PATH, LD_*, DYLD_*, shell and interpreter start-up hooks), but the policy allows only the commands ${listed(policy.commands)}; remove it`)]
    }
    return []
  })
}

const effectiveBudget = (policy: Policy, request: RunRequest): Budget => {
  const maxDurationMin = request.budget.maxDurationMin ?? policy.budget.maxDurationMin
  const maxSpendUsd = request.budget.maxSpendUsd ?? policy.budget.maxSpendUsd
  return {
    ...(maxDurationMin === undefined ? {} : { maxDurationMin }),
    ...(maxSpendUsd === undefined ? {} : { maxSpendUsd })
  }
}

export const evaluate = (policy: Policy, request: RunRequest): Evaluation => {
  const agent: AgentKind = request.execution.command.kind === "agent" ? request.agent : "command"
  const { env } = request.execution
  const violations: Array<Violation> = [
    ...member("pool", "pool", request.pool, policy.pools),
    ...member("agent", request.agent === agent ? "agent" : `agent ${q(request.agent)} with ${request.execution.command.kind === "argv" ? "an argv" : "a shell"} execution, which runs as agent`, agent, policy.agents),
    ...member("tier", "isolation tier", request.isolation.tier, policy.isolationTiers),
    ...networkViolations(policy, request),
    ...env.inherit.flatMap((name) => member("env.inherit", "the inherited environment variable", name, policy.inheritEnv, "remove it")),
    ...env.secrets.flatMap(({ secretName }) => member("secret", "the secret", secretName, policy.releasableSecrets, "remove it")),
    ...envViolations(policy, request),
    ...ceiling("timeout", "a timeout (ms) of", request.execution.timeoutMs, policy.budget.maxTimeoutMs),
    ...ceiling("budget.maxDurationMin", "a duration (min) of", request.budget.maxDurationMin, policy.budget.maxDurationMin),
    ...ceiling("budget.maxSpendUsd", "a spend (USD) of", request.budget.maxSpendUsd, policy.budget.maxSpendUsd),
    ...(policy.commands === undefined ? [] : commandViolations(policy.commands, request, agent))
  ]
  const hosts = validOnly(request.network.allowHosts.map(compileHost))
  const consentRules = policy.consent.filter((rule) => consentMatches(rule, request, agent, hosts)).map((rule) => rule.id)
  return {
    decision: violations.length > 0 ? "deny" : consentRules.length > 0 ? "ask" : "allow",
    violations,
    consentRules,
    agent,
    timeoutMs: request.execution.timeoutMs ?? policy.budget.maxTimeoutMs,
    budget: effectiveBudget(policy, request),
    enforce: dimensions.filter((d) => policy.enforce.includes(d) || request.isolation.enforce.includes(d))
  }
}

/**
 * From a verified contract (and the policy its hash names) to a prepared execution: the
 * command, a cwd inside the workspace, the timeout, the log cap, the environment and
 * whether the egress proxy is used. Pure; the host environment is passed in.
 */
import { posix } from "node:path"
import { Data, Either } from "effect"
import type { Contract } from "../protocol/Contract.js"
import { hashCanonicalOrThrow, type Sha256 } from "../protocol/Hash.js"
import type { Policy } from "../protocol/Policy.js"
import { agentCommand } from "./Agents.js"
import type { EnvValue, PreparedExecution } from "./Execution.js"

/** Without a timeout in the spec or a duration budget, a session may run this long. */
export const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000

export class ExecutionRefused extends Data.TaggedError("ExecutionRefused")<{
  readonly reason: "cwd-escapes-workspace" | "inherit-not-allowed"
  readonly detail: string
}> {
  override get message() {
    return `the execution cannot be prepared (${this.reason}): ${this.detail}`
  }
}

export interface PrepareInput {
  readonly contract: Contract
  /** The policy the contract's policyHash names; its inheritEnv bounds what may be inherited. */
  readonly policy: Pick<Policy, "inheritEnv">
  /** Names of the secrets the plane released to this run. */
  readonly released: ReadonlyArray<string>
  /** The runner's own environment, the only source of inherited values. */
  readonly hostEnv: Readonly<Record<string, string | undefined>>
}

const resolveCwd = (cwd: string): Either.Either<string, ExecutionRefused> => {
  const normal = posix.normalize(cwd === "" ? "." : cwd)
  return normal === ".." || normal.startsWith("../") || posix.isAbsolute(normal)
    ? Either.left(new ExecutionRefused({ reason: "cwd-escapes-workspace", detail: `cwd ${JSON.stringify(cwd)} leaves the workspace` }))
    : Either.right(normal.replace(/\/$/, "") || ".")
}

const timeoutOf = (contract: Contract): number =>
  contract.execution.timeoutMs ??
    (contract.budget.maxDurationMin === undefined ? DEFAULT_TIMEOUT_MS : Math.ceil(contract.budget.maxDurationMin * 60_000))

export const prepareExecution = (input: PrepareInput): Either.Either<PreparedExecution, ExecutionRefused> => {
  const { contract, hostEnv, policy, released } = input
  const spec = contract.execution
  const notAllowed = spec.env.inherit.filter((name) => !policy.inheritEnv.includes(name))
  if (notAllowed.length > 0) {
    return Either.left(new ExecutionRefused({
      reason: "inherit-not-allowed",
      detail: `the contract inherits ${notAllowed.join(", ")}, which the policy's inheritEnv does not list`
    }))
  }
  return Either.map(resolveCwd(spec.cwd), (cwd): PreparedExecution => {
    const agent = agentCommand(contract.agent.kind, contract.task.prompt)
    const env: Record<string, EnvValue> = {}
    for (const name of spec.env.inherit) {
      const value = hostEnv[name]
      if (value !== undefined) env[name] = { _tag: "Literal", value }
    }
    for (const [name, value] of Object.entries(spec.env.vars)) env[name] = { _tag: "Literal", value }
    // A mapping whose secret was not released is left out, never passed as a marker.
    for (const { env: name, secretName } of spec.env.secrets) {
      if (released.includes(secretName)) env[name] = { _tag: "Secret", secret: secretName }
      else delete env[name]
    }
    const command = spec.command.kind === "agent"
      ? agent.command
      : spec.command.kind === "argv"
      ? { kind: "argv" as const, argv: spec.command.argv }
      : { kind: "shell" as const, shell: spec.command.shell, script: spec.command.script }
    return {
      agent: contract.agent.kind,
      command,
      cwd,
      timeoutMs: timeoutOf(contract),
      logMaxBytes: spec.log.maxBytes,
      env: spec.command.kind === "agent" ? { ...env, ...agent.env } : env,
      egressProxy: spec.env.egressProxy,
      network: contract.network
    }
  })
}

/**
 * The hash `command.executed` records: the command, cwd, limits and the environment's
 * shape — names and, for secrets, which secret, never a value.
 */
export const executionHash = (execution: PreparedExecution): Sha256 =>
  hashCanonicalOrThrow({
    agent: execution.agent,
    command: execution.command,
    cwd: execution.cwd,
    timeoutMs: execution.timeoutMs,
    logMaxBytes: execution.logMaxBytes,
    env: Object.fromEntries(
      Object.entries(execution.env).map(([name, value]) => [name, value._tag === "Secret" ? { secret: value.secret } : { literal: value.value }])
    ),
    egressProxy: execution.egressProxy,
    network: execution.network
  })

/**
 * The one interface every isolation tier implements — its readiness probe, what it can
 * enforce per dimension, which executions it can run, and `run` inside a Scope — plus the
 * typed errors that refuse a session before anything runs.
 */
import { Context, type Effect, type Redacted, Schema, type Scope } from "effect"
import type { EgressDecision } from "../egress/EgressDecision.js"
import type { Enforcement } from "../protocol/Event.js"
import { AgentKind, Dimension, IsolationTier } from "../protocol/Ids.js"
import type { PreparedExecution } from "./Execution.js"

/** The tier asked for is absent, not ready, or cannot run this kind of execution. */
export class CapabilityMismatch extends Schema.TaggedError<CapabilityMismatch>()("CapabilityMismatch", {
  tier: IsolationTier,
  agent: Schema.optional(AgentKind),
  reason: Schema.String
}) {
  override get message() {
    return `the ${this.tier} tier cannot run${this.agent === undefined ? " this session" : ` the ${this.agent} agent`}: ${this.reason}`
  }
}

/** The tier cannot attest a required dimension, or cannot enforce a demanded one. */
export class SandboxUnenforceable extends Schema.TaggedError<SandboxUnenforceable>()("SandboxUnenforceable", {
  tier: IsolationTier,
  dimensions: Schema.Array(Dimension),
  reason: Schema.String
}) {
  override get message() {
    return `the ${this.tier} tier cannot enforce ${this.dimensions.join(", ")}: ${this.reason}`
  }
}

/** The session could not be carried out at all (not the command failing: that is an exit code). */
export class SessionFailed extends Schema.TaggedError<SessionFailed>()("SessionFailed", {
  tier: IsolationTier,
  reason: Schema.String
}) {
  override get message() {
    return `the ${this.tier} session failed: ${this.reason}`
  }
}

export type Capability = Readonly<Record<Dimension, Enforcement>>

export type Readiness =
  | { readonly ready: true }
  | { readonly ready: false; readonly reasons: ReadonlyArray<string> }

export interface ReleasedSecret {
  readonly name: string
  readonly value: Redacted.Redacted<string>
}

export interface SessionRequest {
  readonly execution: PreparedExecution
  /** Absolute path of the materialised workspace; the execution's cwd is relative to it. */
  readonly workspace: string
  /** The values the plane released to this run; only a backend ever resolves them. */
  readonly secrets: ReadonlyArray<ReleasedSecret>
}

export interface SessionResult {
  readonly exitCode: number
  /** Captured output, secret values redacted, at most the cap plus a truncation marker. */
  readonly log: string
  readonly truncated: boolean
  readonly timedOut: boolean
  /** How many times each secret (by name) was redacted from the log; never the values. */
  readonly redactions: Readonly<Record<string, number>>
  /** Every network decision the session's enforcement point made, in order. */
  readonly network: ReadonlyArray<EgressDecision>
}

export interface SessionBackend {
  readonly tier: IsolationTier
  /** Whether the tier can run on this host now, and if not why; cached after the first call. */
  readonly probe: Effect.Effect<Readiness>
  readonly capability: Capability
  /** Undefined when the tier can run this execution; otherwise why not. */
  readonly unsupported: (execution: PreparedExecution) => string | undefined
  readonly run: (request: SessionRequest) => Effect.Effect<SessionResult, SessionFailed, Scope.Scope>
}

/** The tiers a runner was assembled with, at most one per tier. */
export class SessionBackends extends Context.Tag("warrant/backends/SessionBackends")<SessionBackends, {
  readonly all: ReadonlyArray<SessionBackend>
}>() {}

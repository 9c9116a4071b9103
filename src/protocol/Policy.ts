/**
 * `warrant.policy.v1`: what an organisation allows a run to ask for, which requests
 * need a human ("ask"), and which sandbox dimensions must be enforced rather than attested.
 */
import { Schema } from "effect"
import { versionedDecoder, versionField } from "./Decode.js"
import { AgentKind, Dimension, Disclosure, EnvName, IsolationTier, PoolName, SecretName } from "./Ids.js"
import { NetworkPolicy } from "./Network.js"

export const BudgetCeilings = Schema.Struct({
  maxDurationMin: Schema.optional(Schema.Number.pipe(Schema.positive())),
  maxSpendUsd: Schema.optional(Schema.Number.pipe(Schema.nonNegative())),
  maxTimeoutMs: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive()))
})
export type BudgetCeilings = typeof BudgetCeilings.Type

/** A request matching every listed criterion needs a human's approval. */
export const ConsentRule = Schema.Struct({
  id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128)),
  description: Schema.optional(Schema.String),
  when: Schema.Struct({
    agents: Schema.optional(Schema.Array(AgentKind)),
    tiers: Schema.optional(Schema.Array(IsolationTier)),
    secrets: Schema.optional(Schema.Array(SecretName)),
    hosts: Schema.optional(Schema.Array(Schema.String)),
    disclosures: Schema.optional(Schema.Array(Disclosure))
  }),
  decision: Schema.Literal("ask")
})
export type ConsentRule = typeof ConsentRule.Type

export const Policy = Schema.Struct({
  version: versionField("policy"),
  pools: Schema.Array(PoolName),
  agents: Schema.Array(AgentKind),
  isolationTiers: Schema.Array(IsolationTier),
  network: NetworkPolicy,
  releasableSecrets: Schema.Array(SecretName),
  inheritEnv: Schema.Array(EnvName),
  /** Executables a command allowlist admits; absent means the command dimension is not required. */
  commands: Schema.optional(Schema.Array(Schema.String)),
  budget: BudgetCeilings,
  consent: Schema.Array(ConsentRule),
  /** Dimensions a tier must enforce, not merely attest, for a run under this policy. */
  enforce: Schema.Array(Dimension)
})
export type Policy = typeof Policy.Type

export const decodePolicy = versionedDecoder("policy", Policy)

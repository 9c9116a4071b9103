/**
 * The plane API's request and response bodies: run requests, run views, the dry-run disclosure
 * report, enrollment, claims, event batches and completion. Protocol objects travel as defined
 * in `protocol/`; tokens and secret values are `Redacted` so a client never logs them by accident.
 */
import { Schema } from "effect"
import { Budget, Contract, ExecutionSpec, IsolationRequest } from "../protocol/Contract.js"
import { ChainEntry, FailureClass, RunEvent } from "../protocol/Event.js"
import { Sha256 } from "../protocol/Hash.js"
import {
  AgentKind,
  Disclosure,
  EnvName,
  IsolationTier,
  KeyId,
  NonNegativeInt,
  PoolName,
  Principal,
  PublicKeyHex,
  RunId,
  RunnerId,
  SecretName,
  Timestamp
} from "../protocol/Ids.js"
import { DeniedPath, Manifest } from "../protocol/Manifest.js"
import { NetworkPolicy } from "../protocol/Network.js"
import { Policy } from "../protocol/Policy.js"
import { Receipt } from "../protocol/Receipt.js"
import { PublicKeyRecord } from "../protocol/Signature.js"
import { WorkspacePath } from "../protocol/WorkspacePath.js"
import { Violation } from "./ApiErrors.js"

/** A request names only what it means: an unknown field is an error, never silently dropped. */
const strict = { parseOptions: { onExcessProperty: "error" } } as const

/**
 * A credential or secret value in a request. A decode failure's message normally repeats the
 * value it got ("actual ..."), and the 400 would carry the secret back out; this one never does.
 */
const SecretText = (maxLength: number, what: string) =>
  Schema.Redacted(Schema.String.pipe(Schema.maxLength(maxLength))).annotations({
    message: () => ({ message: `expected ${what}: a string of at most ${maxLength} characters (the value sent is not repeated here)`, override: true })
  })

export const Role = Schema.Literal("admin", "requester", "approver")
export type Role = typeof Role.Type

export const PrincipalId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$/, {
    message: () => "expected a principal id: 1-128 characters of A-Z a-z 0-9 . _ @ + : - starting with a letter or digit"
  })
)

export const PrincipalView = Schema.Struct({
  id: PrincipalId,
  kind: Principal.fields.kind,
  role: Role,
  createdAt: Timestamp
})
export type PrincipalView = typeof PrincipalView.Type

export const CreatePrincipal = Schema.Struct({ id: PrincipalId, kind: Principal.fields.kind, role: Role }).annotations(strict)
export const PrincipalCreated = Schema.Struct({ principal: PrincipalView, token: Schema.Redacted(Schema.String) })

export const CreateEnrollToken = Schema.Struct({
  pool: PoolName,
  /** How long the token may be used; 1 minute to 7 days, default 15 minutes. */
  ttlSeconds: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(60, 7 * 24 * 3600)))
}).annotations(strict)
export type CreateEnrollToken = typeof CreateEnrollToken.Type
export const EnrollTokenCreated = Schema.Struct({ token: Schema.Redacted(Schema.String), pool: PoolName, expiresAt: Timestamp })

export const EnrollRequest = Schema.Struct({
  enrollToken: SecretText(512, "an enroll token"),
  publicKey: PublicKeyHex,
  /** The runner's name; the plane picks one when absent. */
  name: Schema.optional(RunnerId)
}).annotations(strict)
export const Enrolled = Schema.Struct({
  runnerId: RunnerId,
  pool: PoolName,
  keyId: KeyId,
  runnerToken: Schema.Redacted(Schema.String),
  /** The key that issues contracts and countersigns receipts. */
  planeKey: PublicKeyRecord
})
export type Enrolled = typeof Enrolled.Type

export const RunnerView = Schema.Struct({ runnerId: RunnerId, pool: PoolName, keyId: KeyId, enrolledAt: Timestamp, lastSeenAt: Schema.optional(Timestamp) })
export type RunnerView = typeof RunnerView.Type

/**
 * At most this many entries in each list of a run request that policy checks one by one (hosts,
 * addresses, inherited variables, secrets, variables). No real run comes near it; without it one
 * 16 MiB request makes the plane compile, judge and sign hundreds of thousands of entries.
 */
export const MAX_REQUEST_ENTRIES = 1024

const overlong = (request: { readonly network: typeof NetworkPolicy.Type; readonly execution: typeof ExecutionSpec.Type }) => {
  const env = request.execution.env
  const lists: ReadonlyArray<readonly [ReadonlyArray<string>, number]> = [
    [["network", "allowHosts"], request.network.allowHosts.length],
    [["network", "allowAddresses"], request.network.allowAddresses?.length ?? 0],
    [["execution", "env", "inherit"], env.inherit.length],
    [["execution", "env", "vars"], Object.keys(env.vars).length],
    [["execution", "env", "secrets"], env.secrets.length]
  ]
  const over = lists.find(([, length]) => length > MAX_REQUEST_ENTRIES)
  return over === undefined || { path: over[0], message: `at most ${MAX_REQUEST_ENTRIES} entries, not ${over[1]}; list only what the run needs` }
}

/** What a requester asks for. Who asked comes from the token, never from the body. */
export const RunRequest = Schema.Struct({
  agent: AgentKind,
  task: Schema.Struct({ prompt: Schema.String.pipe(Schema.maxLength(256 * 1024)) }),
  execution: ExecutionSpec,
  pool: PoolName,
  isolation: IsolationRequest,
  workspace: Manifest,
  network: NetworkPolicy,
  budget: Budget,
  disclosure: Disclosure,
  /** Report what would cross and what policy decides; store and issue nothing. */
  dryRun: Schema.optional(Schema.Boolean)
}).annotations(strict).pipe(Schema.filter(overlong))
export type RunRequest = typeof RunRequest.Type

export const RunState = Schema.Literal("awaiting_approval", "queued", "running", "completed", "failed", "cancelled")
export type RunState = typeof RunState.Type
export const finalStates: ReadonlySet<RunState> = new Set(["completed", "failed", "cancelled"])

export const RunView = Schema.Struct({
  runId: RunId,
  state: RunState,
  pool: PoolName,
  agent: AgentKind,
  tier: IsolationTier,
  requestedBy: Principal,
  approvedBy: Schema.optional(Principal),
  decision: Schema.Literal("allow", "ask"),
  consentRules: Schema.Array(Schema.String),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  contractHash: Schema.optional(Sha256),
  runnerId: Schema.optional(RunnerId),
  leaseExpiresAt: Schema.optional(Timestamp),
  eventCount: NonNegativeInt,
  failure: Schema.optional(Schema.Struct({ failureClass: FailureClass, message: Schema.String }))
})
export type RunView = typeof RunView.Type

/** Everything that would cross the boundary if the request ran, and what policy says of it. */
export const DisclosureReport = Schema.Struct({
  decision: Schema.Literal("allow", "ask", "deny"),
  violations: Schema.Array(Violation),
  consentRules: Schema.Array(Schema.String),
  policyHash: Sha256,
  requestedAgent: AgentKind,
  /** The agent that would actually run: an argv or shell spec is the `command` agent. */
  agent: AgentKind,
  tier: IsolationTier,
  enforce: Schema.Array(Schema.String),
  pool: PoolName,
  files: Schema.Array(Schema.Struct({ path: WorkspacePath, hash: Sha256, size: NonNegativeInt })),
  denied: Schema.Array(DeniedPath),
  blobs: Schema.Array(Schema.Struct({ hash: Sha256, size: NonNegativeInt, uploaded: Schema.Boolean })),
  bytes: NonNegativeInt,
  secrets: Schema.Array(SecretName),
  inheritEnv: Schema.Array(EnvName),
  network: Schema.Struct({ defaultDeny: Schema.Boolean, egressProxy: Schema.Boolean, allowHosts: Schema.Array(Schema.String), allowAddresses: Schema.Array(Schema.String) }),
  timeoutMs: Schema.optional(Schema.Number),
  budget: Budget,
  disclosure: Disclosure
})
export type DisclosureReport = typeof DisclosureReport.Type

export const RunCreatedResponse = Schema.TaggedStruct("created", { run: RunView, contract: Schema.optional(Contract) })
export const DryRunResponse = Schema.TaggedStruct("dry-run", { report: DisclosureReport })
export const CreateRunResponse = Schema.Union(RunCreatedResponse, DryRunResponse)
export type CreateRunResponse = typeof CreateRunResponse.Type

/** An event the plane recorded before the run had a contract (so before its chain could start). */
export const PendingEvent = Schema.Struct({ ts: Timestamp, event: RunEvent })

export const RunDetail = Schema.Struct({
  run: RunView,
  contract: Schema.optional(Contract),
  receipt: Schema.optional(Receipt),
  /** While a run awaits approval: run.created, policy.evaluated and consent.requested, chained on approval. */
  pending: Schema.optional(Schema.Array(PendingEvent))
})

export const ListRunsParams = Schema.Struct({
  state: Schema.optional(RunState),
  pool: Schema.optional(PoolName),
  requestedBy: Schema.optional(PrincipalId),
  since: Schema.optional(Timestamp),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))
})

export const CancelRequest = Schema.Struct({ reason: Schema.optional(Schema.String.pipe(Schema.maxLength(1024))) }).annotations(strict)

export const ReleasedSecret = Schema.Struct({ name: SecretName, value: Schema.Redacted(Schema.String) })

export const Claimed = Schema.TaggedStruct("claimed", {
  contract: Contract,
  /** The chain so far (the plane's own entries); the runner continues from its head. */
  entries: Schema.Array(ChainEntry),
  claimToken: Schema.Redacted(Schema.String),
  secrets: Schema.Array(ReleasedSecret),
  leaseExpiresAt: Timestamp
})
export type Claimed = typeof Claimed.Type
export const NothingToClaim = Schema.TaggedStruct("empty", {})
export const ClaimResponse = Schema.Union(Claimed, NothingToClaim)

/** At most this many entries per posted batch. */
export const MAX_BATCH = 1000
export const EventBatch = Schema.Struct({ entries: Schema.Array(ChainEntry).pipe(Schema.minItems(1), Schema.maxItems(MAX_BATCH)) }).annotations(strict)
export const EventsAccepted = Schema.Struct({ stored: NonNegativeInt, count: NonNegativeInt, head: Sha256, leaseExpiresAt: Timestamp })

export const Lease = Schema.Struct({ leaseExpiresAt: Timestamp })

export const CompleteRequest = Schema.Struct({ receipt: Receipt }).annotations(strict)
export const Completed = Schema.Struct({ run: RunView, receipt: Receipt })

export const BlobStored = Schema.Struct({ hash: Sha256, size: NonNegativeInt, created: Schema.Boolean })

export const PutSecret = Schema.Struct({ value: SecretText(64 * 1024, "a secret value") }).annotations(strict)
export const SecretView = Schema.Struct({ name: SecretName, updatedAt: Timestamp })
export type SecretView = typeof SecretView.Type

export const PolicyView = Schema.Struct({ policy: Policy, policyHash: Sha256 })

export const Health = Schema.Struct({ status: Schema.Literal("ok") })
export const Readiness = Schema.Struct({ ready: Schema.Literal(true), checks: Schema.Array(Schema.Struct({ name: Schema.String, ok: Schema.Boolean })) })

export const ExportParams = Schema.Struct({ since: Schema.optional(Timestamp) })

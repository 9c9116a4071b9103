/**
 * `warrant.event.v1`: every boundary action of a run, as a tagged union, and the
 * hash-chained entry that carries it. The genesis entry links to the contract hash.
 */
import { Schema } from "effect"
import { versionedDecoder, versionField } from "./Decode.js"
import { Sha256 } from "./Hash.js"
import { Dimension, IsolationTier, KeyId, NonNegativeInt, PoolName, Principal, RunId, RunnerId, SecretName, Timestamp } from "./Ids.js"
import { WorkspacePath } from "./WorkspacePath.js"

const Text = Schema.String.pipe(Schema.maxLength(4096))

/** Events are discriminated by `type` on the wire, e.g. `{ "type": "run.completed", ... }`. */
const event = <T extends string, F extends Schema.Struct.Fields>(type: T, fields: F) =>
  Schema.Struct({ type: Schema.Literal(type), ...fields })

export const NetworkDecision = Schema.Literal("allowed", "blocked")
export type NetworkDecision = typeof NetworkDecision.Type

/** enforced: a mechanism stops violations; attested: recorded honestly, not stopped; none: neither. */
export const Enforcement = Schema.Literal("enforced", "attested", "none")
export type Enforcement = typeof Enforcement.Type

export const EnforcementMatrix = Schema.Struct({
  read: Enforcement,
  write: Enforcement,
  command: Enforcement,
  network: Enforcement,
  env: Enforcement
})
export type EnforcementMatrix = typeof EnforcementMatrix.Type

export const FailureClass = Schema.Literal(
  "policy", "sandbox", "capability", "timeout", "agent", "runner-lost", "infrastructure", "cancelled"
)
export type FailureClass = typeof FailureClass.Type

export const RunCreated = event("run.created", { runId: RunId, requestedBy: Principal })
export const RunClaimed = event("run.claimed", { runnerId: RunnerId, keyId: KeyId, pool: PoolName })
export const WorkspaceMaterialized = event("workspace.materialized", {
  manifestHash: Sha256,
  baseRef: Schema.optional(Schema.String)
})
export const PolicyEvaluated = event("policy.evaluated", {
  policyHash: Sha256,
  decision: Schema.Literal("allow", "ask", "deny"),
  reasons: Schema.Array(Text)
})
export const ConsentRequested = event("consent.requested", { rules: Schema.Array(Text), reason: Text })
export const ConsentGranted = event("consent.granted", { by: Principal })
export const SecretReleased = event("secret.released", { name: SecretName, scope: Schema.String })
export const CommandExecuted = event("command.executed", {
  argvHash: Sha256,
  exitCode: Schema.Number.pipe(Schema.int()),
  timedOut: Schema.optional(Schema.Boolean),
  durationMs: Schema.optional(NonNegativeInt)
})
export const FileChanged = event("file.changed", {
  path: WorkspacePath,
  change: Schema.Literal("added", "modified", "deleted"),
  /** Absent exactly when the file was deleted. */
  contentHash: Schema.optional(Sha256)
})
export const NetworkConnected = event("network.connected", {
  host: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(260)),
  port: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(0, 65535))),
  decision: NetworkDecision,
  reason: Text,
  /** Repeated identical decisions may be aggregated into one event. */
  count: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive()))
})
export const BoundaryCrossed = event("boundary.crossed", {
  direction: Schema.Literal("in", "out"),
  contentHash: Sha256,
  dataClass: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128))
})
export const ArtifactCreated = event("artifact.created", {
  kind: Schema.Literal("diff", "log", "file", "other"),
  hash: Sha256,
  size: Schema.optional(NonNegativeInt)
})
/** What a session's sandbox enforced; the receipt repeats it as its enforcement matrix. */
export const sandboxAttestation = {
  tier: IsolationTier,
  matrix: EnforcementMatrix,
  /** Dimensions the contract's policy required at least attested. */
  required: Schema.Array(Dimension),
  /** Dimensions the contract demanded enforced. */
  enforce: Schema.Array(Dimension)
}
export const SandboxAttested = event("sandbox.attested", sandboxAttestation)
export const RunCompleted = event("run.completed", { exitCode: Schema.Number.pipe(Schema.int()) })
export const RunFailed = event("run.failed", { failureClass: FailureClass, message: Text })
export const RunCancelled = event("run.cancelled", {
  by: Schema.optional(Principal),
  reason: Schema.optional(Text)
})

export const RunEvent = Schema.Union(
  RunCreated,
  RunClaimed,
  WorkspaceMaterialized,
  PolicyEvaluated,
  ConsentRequested,
  ConsentGranted,
  SecretReleased,
  CommandExecuted,
  FileChanged,
  NetworkConnected,
  BoundaryCrossed,
  ArtifactCreated,
  SandboxAttested,
  RunCompleted,
  RunFailed,
  RunCancelled
)
export type RunEvent = typeof RunEvent.Type
export type RunEventType = RunEvent["type"]
export type EventOf<T extends RunEventType> = Extract<RunEvent, { readonly type: T }>

/** The events that end a run; nothing may follow one. */
export const terminalTags: ReadonlySet<RunEventType> = new Set(["run.completed", "run.failed", "run.cancelled"])

export const ChainEntry = Schema.Struct({
  version: versionField("event"),
  seq: NonNegativeInt,
  ts: Timestamp,
  event: RunEvent,
  prevHash: Sha256,
  hash: Sha256
})
export type ChainEntry = typeof ChainEntry.Type
export type ChainEntryEncoded = typeof ChainEntry.Encoded

export const decodeChainEntry = versionedDecoder("event", ChainEntry)

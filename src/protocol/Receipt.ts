/**
 * `warrant.receipt.v1`: the runner's signed account of a run, countersigned by the plane.
 * Every summary in it is derivable from the event chain, and verification re-derives it.
 */
import { Schema } from "effect"
import { versionedDecoder, versionField } from "./Decode.js"
import { NetworkDecision, sandboxAttestation } from "./Event.js"
import { Sha256 } from "./Hash.js"
import { IsolationTier, KeyId, NonNegativeInt, PoolName, RunId, RunnerId, SecretName, Timestamp } from "./Ids.js"
import { Signature } from "./Signature.js"

export const RunStatus = Schema.Literal("completed", "failed", "cancelled")
export type RunStatus = typeof RunStatus.Type

export const RunnerIdentity = Schema.Struct({
  runnerId: RunnerId,
  keyId: KeyId,
  pool: PoolName,
  /** Honest: "mock" for a software runner with no hardware attestation. */
  attestationTier: Schema.Literal("mock", "tpm", "tee"),
  isolation: IsolationTier
})
export type RunnerIdentity = typeof RunnerIdentity.Type

export const SecretReleaseSummary = Schema.Struct({ name: SecretName, scope: Schema.String, ts: Timestamp })
export const NetworkSummary = Schema.Struct({ host: Schema.String, decision: NetworkDecision })
export const DisclosureSummary = Schema.Struct({
  direction: Schema.Literal("in", "out"),
  contentHash: Sha256,
  dataClass: Schema.String
})
export const SandboxSummary = Schema.Struct(sandboxAttestation)
export type SandboxSummary = typeof SandboxSummary.Type

/** RFC 9162 tree head over the event hashes, so one event can be disclosed with a proof. */
export const EventsTreeHead = Schema.Struct({
  alg: Schema.Literal("rfc9162-sha256"),
  size: NonNegativeInt,
  root: Sha256
})
export type EventsTreeHead = typeof EventsTreeHead.Type

export const Receipt = Schema.Struct({
  version: versionField("receipt"),
  runId: RunId,
  contractHash: Sha256,
  runner: RunnerIdentity,
  startedAt: Timestamp,
  endedAt: Timestamp,
  status: RunStatus,
  eventsHead: Sha256,
  eventCount: NonNegativeInt,
  eventsTree: EventsTreeHead,
  workspaceIn: Schema.Struct({ baseRef: Schema.optional(Schema.String), manifestHash: Sha256 }),
  workspaceOut: Schema.Struct({ diffHash: Schema.optional(Sha256), artifactHashes: Schema.Array(Sha256) }),
  secretsReleased: Schema.Array(SecretReleaseSummary),
  networkAccessed: Schema.Array(NetworkSummary),
  boundaryDisclosures: Schema.Array(DisclosureSummary),
  sandbox: Schema.optional(SandboxSummary),
  signatures: Schema.Array(Signature)
})
export type Receipt = typeof Receipt.Type
export type UnsignedReceipt = Omit<Receipt, "signatures">

export const decodeReceipt = versionedDecoder("receipt", Receipt)

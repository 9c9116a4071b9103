/**
 * `warrant.contract.v1`: the plane's signed permission for one run — who asked, what
 * runs where, with which workspace, secrets (names only), network and budget.
 */
import { Schema } from "effect"
import { versionedDecoder, versionField } from "./Decode.js"
import { Sha256 } from "./Hash.js"
import {
  AgentKind,
  Dimension,
  Disclosure,
  EnvName,
  IsolationTier,
  KeyId,
  PoolName,
  Principal,
  RunId,
  SecretName,
  Timestamp
} from "./Ids.js"
import { Manifest } from "./Manifest.js"
import { NetworkPolicy } from "./Network.js"
import { Signature } from "./Signature.js"
import { WorkspacePath } from "./WorkspacePath.js"

/** What to run: the agent's own command line, an argv, or a shell script. */
export const ExecutionCommand = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("agent") }),
  Schema.Struct({ kind: Schema.Literal("argv"), argv: Schema.NonEmptyArray(Schema.String) }),
  Schema.Struct({ kind: Schema.Literal("shell"), shell: Schema.Literal("sh", "bash"), script: Schema.String })
)
export type ExecutionCommand = typeof ExecutionCommand.Type

/** A secret reaches the session only as this env var, and only if the plane released it. */
export const SecretMapping = Schema.Struct({ env: EnvName, secretName: SecretName })
export type SecretMapping = typeof SecretMapping.Type

const isEnvName = Schema.is(EnvName)

export const EnvPolicy = Schema.Struct({
  inherit: Schema.Array(EnvName),
  // Keys checked by a filter, not a key schema: Effect would silently drop a bad key.
  vars: Schema.Record({ key: Schema.String, value: Schema.String }).pipe(
    Schema.filter((vars) => {
      const bad = Object.keys(vars).filter((k) => !isEnvName(k))
      return bad.length === 0 || `not environment variable names: ${bad.map((k) => JSON.stringify(k)).join(", ")}`
    })
  ),
  secrets: Schema.Array(SecretMapping),
  egressProxy: Schema.Boolean
})
export type EnvPolicy = typeof EnvPolicy.Type

export const ExecutionSpec = Schema.Struct({
  command: ExecutionCommand,
  cwd: WorkspacePath,
  timeoutMs: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.positive())),
  log: Schema.Struct({ maxBytes: Schema.Number.pipe(Schema.int(), Schema.positive()) }),
  env: EnvPolicy
})
export type ExecutionSpec = typeof ExecutionSpec.Type

export const SecretGrant = Schema.Struct({
  name: SecretName,
  scope: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128))
})
export type SecretGrant = typeof SecretGrant.Type

export const Budget = Schema.Struct({
  maxDurationMin: Schema.optional(Schema.Number.pipe(Schema.positive())),
  maxSpendUsd: Schema.optional(Schema.Number.pipe(Schema.nonNegative()))
})
export type Budget = typeof Budget.Type

export const IsolationRequest = Schema.Struct({
  tier: IsolationTier,
  /** Dimensions the run refuses to start without a mechanism that stops violations. */
  enforce: Schema.Array(Dimension)
})
export type IsolationRequest = typeof IsolationRequest.Type

export const Contract = Schema.Struct({
  version: versionField("contract"),
  runId: RunId,
  issuedAt: Timestamp,
  expiresAt: Timestamp,
  issuer: Schema.Struct({ keyId: KeyId }),
  requestedBy: Principal,
  approvedBy: Schema.optional(Principal),
  agent: Schema.Struct({ kind: AgentKind }),
  task: Schema.Struct({ prompt: Schema.String }),
  execution: ExecutionSpec,
  runner: Schema.Struct({ pool: PoolName }),
  workspace: Manifest,
  policyHash: Sha256,
  secrets: Schema.Array(SecretGrant),
  network: NetworkPolicy,
  budget: Budget,
  disclosure: Disclosure,
  isolation: IsolationRequest,
  signatures: Schema.Array(Signature)
})
export type Contract = typeof Contract.Type
export type ContractEncoded = typeof Contract.Encoded
/** A contract before the plane signs it; the plane fills in its own issuer key. */
export type UnsignedContract = Omit<Contract, "signatures" | "issuer">

export const decodeContract = versionedDecoder("contract", Contract)

/**
 * Building a receipt from a finished chain, signing it as the runner and countersigning
 * it as the plane, and packing the offline-verifiable bundle.
 */
import { Data, Effect, Schema } from "effect"
import { treeHead } from "../chain/EventsTree.js"
import { type Bundle, Bundle as BundleSchema } from "../protocol/Bundle.js"
import type { Contract } from "../protocol/Contract.js"
import type { ChainEntry } from "../protocol/Event.js"
import type { IsolationTier, PoolName, RunnerId } from "../protocol/Ids.js"
import { Receipt, type RunnerIdentity, type UnsignedReceipt } from "../protocol/Receipt.js"
import type { PublicKeyRecord } from "../protocol/Signature.js"
import type { VerifiedContract } from "../crypto/ContractSigning.js"
import { Signer } from "../crypto/Signer.js"
import { summarize } from "./Summary.js"

export class ReceiptIncomplete extends Data.TaggedError("ReceiptIncomplete")<{ readonly runId: string; readonly reason: string }> {
  override get message() {
    return `cannot produce a receipt for run ${this.runId}: ${this.reason}`
  }
}

export interface RunnerInfo {
  readonly runnerId: RunnerId
  readonly pool: PoolName
  readonly isolation: IsolationTier
  /** Software runners have no hardware attestation; the receipt says so. */
  readonly attestationTier?: RunnerIdentity["attestationTier"]
}

const encodeReceipt = Schema.encodeSync(Receipt)

/** The unsigned receipt for a chain that has reached its terminal event. */
export const buildReceipt = (input: {
  readonly contract: VerifiedContract
  readonly entries: ReadonlyArray<ChainEntry>
  readonly runner: RunnerInfo
}) =>
  Effect.gen(function*() {
    const { entries, runner } = input
    const contract = input.contract.contract
    const runId = contract.runId
    const summary = summarize(entries)
    const last = entries.at(-1)
    if (last === undefined || summary.status === undefined || summary.startedAt === undefined || summary.endedAt === undefined) {
      return yield* new ReceiptIncomplete({ runId, reason: "the event chain has not reached run.completed, run.failed or run.cancelled" })
    }
    const signer = yield* Signer
    const unsigned: UnsignedReceipt = {
      version: "warrant.receipt.v1",
      runId,
      contractHash: input.contract.contractHash,
      runner: {
        runnerId: runner.runnerId,
        keyId: signer.keyId,
        pool: runner.pool,
        attestationTier: runner.attestationTier ?? "mock",
        isolation: runner.isolation
      },
      startedAt: summary.startedAt,
      endedAt: summary.endedAt,
      status: summary.status,
      eventsHead: last.hash,
      eventCount: entries.length,
      eventsTree: treeHead(entries.map((e) => e.hash)),
      workspaceIn: {
        ...(contract.workspace.baseRef === undefined ? {} : { baseRef: contract.workspace.baseRef }),
        manifestHash: input.contract.manifestHash
      },
      workspaceOut: {
        ...(summary.diffHash === undefined ? {} : { diffHash: summary.diffHash }),
        artifactHashes: summary.artifactHashes
      },
      secretsReleased: summary.secretsReleased,
      networkAccessed: summary.networkAccessed,
      boundaryDisclosures: summary.boundaryDisclosures,
      ...(summary.sandbox === undefined ? {} : { sandbox: summary.sandbox })
    }
    return unsigned
  })

/** Builds and signs the receipt with the runner's key (the Signer in context). */
export const signReceipt = (input: Parameters<typeof buildReceipt>[0]) =>
  Effect.gen(function*() {
    const signer = yield* Signer
    const unsigned = yield* buildReceipt(input)
    const body = encodeReceipt({ ...unsigned, signatures: [] })
    const signature = yield* signer.signObject("receipt", "runner", body)
    return { ...unsigned, signatures: [signature] } satisfies Receipt
  })

/** The plane's countersignature (the Signer in context), covering the runner's signature. */
export const countersignReceipt = (receipt: Receipt) =>
  Effect.gen(function*() {
    const signer = yield* Signer
    const runnerSignatures = receipt.signatures.filter((s) => s.role === "runner")
    if (runnerSignatures.length !== 1 || receipt.signatures.length !== 1) {
      return yield* new ReceiptIncomplete({ runId: receipt.runId, reason: "only a receipt carrying exactly one runner signature can be countersigned" })
    }
    const signature = yield* signer.signObject("receipt", "plane", encodeReceipt(receipt), receipt.signatures)
    return { ...receipt, signatures: [...receipt.signatures, signature] } satisfies Receipt
  })

const encodeBundle = Schema.encodeSync(BundleSchema)

/** The JSON a verifier receives: contract, events, receipt and the public keys that signed them. */
export const makeBundle = (input: {
  readonly contract: Contract
  readonly entries: ReadonlyArray<ChainEntry>
  readonly receipt: Receipt
  readonly keys: ReadonlyArray<PublicKeyRecord>
}): Bundle => {
  const unique = new Map(input.keys.map((k) => [k.keyId, k] as const))
  return encodeBundle({
    version: "warrant.bundle.v1",
    contract: input.contract,
    events: input.entries,
    receipt: input.receipt,
    keys: [...unique.values()]
  }) as Bundle
}

/**
 * Pure translations between the store's rows and the API's views: a run row as a `RunView`,
 * and the stored JSON columns (contract, receipt, chain entries) decoded back to protocol types.
 */
import { Option, Schema } from "effect"
import { Contract } from "../protocol/Contract.js"
import { ChainEntry, type FailureClass } from "../protocol/Event.js"
import { Receipt } from "../protocol/Receipt.js"
import { PublicKeyRecord } from "../protocol/Signature.js"
import { PendingEvent, RunnerView, RunView, SecretView } from "./ApiModel.js"
import type { EventRow, RunnerRow, RunRow } from "./Store.js"

const decodeView = Schema.decodeUnknownSync(RunView)
const decodeContract = Schema.decodeUnknownSync(Contract)
const decodeReceipt = Schema.decodeUnknownSync(Receipt)
const decodeEntry = Schema.decodeUnknownSync(ChainEntry)

/** The store only ever holds what the plane encoded, so a decode failure here is corruption (a defect). */
export const runView = (row: RunRow): RunView =>
  decodeView({
    runId: row.id,
    state: row.state,
    pool: row.pool,
    agent: row.agent,
    tier: row.tier,
    requestedBy: JSON.parse(row.requested_by),
    ...(row.approved_by === null ? {} : { approvedBy: JSON.parse(row.approved_by) }),
    decision: row.decision,
    consentRules: JSON.parse(row.consent_rules),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.contract_hash === null ? {} : { contractHash: row.contract_hash }),
    ...(row.runner_id === null ? {} : { runnerId: row.runner_id }),
    ...(row.lease_expires_at === null || row.state !== "running" ? {} : { leaseExpiresAt: row.lease_expires_at }),
    eventCount: row.event_count,
    ...(row.failure_class === null ? {} : { failure: { failureClass: row.failure_class, message: row.failure_message ?? "" } })
  })

export const contractOf = (row: RunRow): Option.Option<Contract> =>
  row.contract === null ? Option.none() : Option.some(decodeContract(JSON.parse(row.contract)))

export const receiptOf = (row: RunRow): Option.Option<Receipt> =>
  row.receipt === null ? Option.none() : Option.some(decodeReceipt(JSON.parse(row.receipt)))

export const entryOf = (row: EventRow): ChainEntry => decodeEntry(JSON.parse(row.entry))

const decodePending = Schema.decodeUnknownSync(Schema.Array(PendingEvent))

export const pendingOf = (row: RunRow): ReadonlyArray<typeof PendingEvent.Type> => decodePending(JSON.parse(row.pending_events))

export interface Failure {
  readonly failureClass: FailureClass
  readonly message: string
}

const decodeKey = Schema.decodeUnknownSync(PublicKeyRecord)

/** The key a runner enrolled with, as a bundle lists it. */
export const runnerKeyOf = (row: RunnerRow): PublicKeyRecord => decodeKey({ alg: "ed25519", keyId: row.key_id, publicKey: row.public_key })

const decodeRunner = Schema.decodeUnknownSync(RunnerView)
const decodeSecret = Schema.decodeUnknownSync(SecretView)

export const runnerView = (row: RunnerRow): RunnerView =>
  decodeRunner({
    runnerId: row.id,
    pool: row.pool,
    keyId: row.key_id,
    enrolledAt: row.enrolled_at,
    ...(row.last_seen_at === null ? {} : { lastSeenAt: row.last_seen_at })
  })

export const secretView = (row: { readonly name: string; readonly updated_at: string }): SecretView =>
  decodeSecret({ name: row.name, updatedAt: row.updated_at })

/**
 * The Runs service: a request becomes a run — policy first (deny, ask or allow), then a contract
 * signed by the plane and the chain's first entries; approval, cancellation, listing, and the
 * offline-verifiable bundle of a finished run.
 */
import { Clock, Context, Duration, Effect, Either, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import { ContractSigning } from "../crypto/ContractSigning.js"
import { Signer } from "../crypto/Signer.js"
import type { Bundle } from "../protocol/Bundle.js"
import { canonicalize } from "../protocol/Canonical.js"
import type { Contract } from "../protocol/Contract.js"
import { contractHash, policyHash } from "../protocol/Digest.js"
import type { ChainEntry, RunEvent } from "../protocol/Event.js"
import { type Principal, type RunId, type Timestamp, timestampOf } from "../protocol/Ids.js"
import { makeBundle } from "../receipt/ReceiptBuilder.js"
import { BadRequest, BlobRejected, Conflict, Forbidden, type NotFound, PolicyDenied } from "./ApiErrors.js"
import type { CreateRunResponse, RunDetail, RunRequest, RunView } from "./ApiModel.js"
import { ListRunsParams } from "./ApiModel.js"
import { canSee, requireRole, visible } from "./Access.js"
import type { CallerShape } from "./Caller.js"
import { advanced, appendPlaneEvents, type Timed } from "./PlaneChain.js"
import { PlaneConfig } from "./PlaneConfig.js"
import { evaluate, type Evaluation } from "./Policy.js"
import { disclosureReport, type Draft, draftOf } from "./RunDraft.js"
import { contractOf, entryOf, type Failure, pendingOf, receiptOf, runnerKeyOf, runView } from "./RunViews.js"
import { PlaneStore, type RunRow, type StoreError } from "./Store.js"
import { precheck } from "../workspace/Materialize.js"
import { referencedBlobs } from "./WorkspaceBlobs.js"

type RunDetailView = typeof RunDetail.Type

export interface RunsShape {
  readonly create: (caller: CallerShape, request: RunRequest) => Effect.Effect<CreateRunResponse, BadRequest | Forbidden | PolicyDenied | BlobRejected | StoreError>
  readonly get: (caller: CallerShape, runId: RunId) => Effect.Effect<RunDetailView, NotFound | StoreError>
  readonly list: (caller: CallerShape, params: typeof ListRunsParams.Type) => Effect.Effect<ReadonlyArray<RunView>, Forbidden | StoreError>
  readonly events: (caller: CallerShape, runId: RunId) => Effect.Effect<ReadonlyArray<ChainEntry>, NotFound | StoreError>
  readonly approve: (caller: CallerShape, runId: RunId) => Effect.Effect<RunDetailView, Forbidden | Conflict | NotFound | StoreError>
  readonly cancel: (caller: CallerShape, runId: RunId, reason: string | undefined) => Effect.Effect<RunView, BadRequest | Forbidden | Conflict | NotFound | StoreError>
  readonly bundle: (caller: CallerShape, runId: RunId) => Effect.Effect<Bundle, Conflict | NotFound | StoreError>
  /** Ends a live run with a terminal plane event (when its chain is still open); used by cancel and the lease sweeper. */
  readonly end: (run: RunRow, state: "failed" | "cancelled", event: RunEvent, failure: Failure) => Effect.Effect<Option.Option<RunRow>, StoreError>
}

export class Runs extends Context.Tag("warrant/plane/Runs")<Runs, RunsShape>() {}

const newRunId = (now: number) => `run-${now.toString(36)}-${randomBytes(5).toString("hex")}` as RunId

const liveStates = ["awaiting_approval", "queued", "running"] as const

/**
 * Text JSON can carry but canonical JSON cannot (a lone UTF-16 surrogate, `"\ud800"`) could never
 * be hashed into a contract or an event: refused as a 400 here, not a 500 when the plane signs.
 */
const unsignable = (value: unknown, at: string): BadRequest | undefined => {
  const canonical = canonicalize(value)
  if (Either.isRight(canonical)) return undefined
  const path = canonical.left.path.replace("$", at)
  const message = canonical.left.message.replace("$", at)
  return new BadRequest({ message: `the request cannot be signed: ${message}; send well-formed Unicode text`, details: { issues: [{ path, message }] } })
}

export const make = Effect.gen(function*() {
  const store = yield* PlaneStore
  const signing = yield* ContractSigning
  const signer = yield* Signer
  const config = yield* PlaneConfig
  const policy = config.policy
  const thePolicyHash = policyHash(policy)
  const now = Effect.map(Clock.currentTimeMillis, timestampOf)

  const issue = (draft: Draft, at: Timestamp, approvedBy?: Principal): Effect.Effect<Contract> =>
    signing.issue({
      ...draft,
      issuedAt: at,
      expiresAt: timestampOf(Date.parse(at) + Duration.toMillis(config.contractTtl)),
      ...(approvedBy === undefined ? {} : { approvedBy })
    })

  /** Each blob the manifest references, whether it is stored, sized as declared and the caller's to use. */
  const blobStatus = (caller: CallerShape & { kind: "principal" }, request: RunRequest) =>
    Effect.gen(function*() {
      const wanted = referencedBlobs(request.workspace)
      const sizes = yield* store.blobSizes(wanted.map((b) => b.hash))
      return yield* Effect.forEach(wanted, (blob) =>
        Effect.gen(function*() {
          const stored = sizes.get(blob.hash)
          const holders = stored === undefined ? [] : yield* store.blobHolders(blob.hash)
          const mine = caller.role === "admin" || holders.includes(`principal:${caller.principal.id}`)
          return { hash: blob.hash, size: blob.size, uploaded: stored === blob.size && mine }
        }))
    })

  const insertRun = (runId: RunId, request: RunRequest, evaluation: Evaluation, requestedBy: Principal, draft: Draft, at: Timestamp, pending: ReadonlyArray<Timed>) =>
    store.insertRun({
      id: runId,
      state: "awaiting_approval",
      pool: request.pool,
      agent: evaluation.agent,
      tier: request.isolation.tier,
      requester_id: requestedBy.id,
      requested_by: JSON.stringify(requestedBy),
      approved_by: null,
      decision: evaluation.decision,
      consent_rules: JSON.stringify(evaluation.consentRules),
      draft: JSON.stringify(draft),
      pending_events: JSON.stringify(pending),
      contract: null,
      contract_hash: null,
      receipt: null,
      runner_id: null,
      lease_expires_at: null,
      event_count: 0,
      head: null,
      failure_class: null,
      failure_message: null,
      created_at: at,
      queued_at: null,
      updated_at: at
    })

  /** Issues the contract and writes the chain's first entries; the run becomes queued. */
  const queue = (run: RunRow, at: Timestamp, approvedBy?: Principal) =>
    Effect.gen(function*() {
      const draft = JSON.parse(run.draft) as Draft
      const contract = yield* issue(draft, at, approvedBy)
      const hash = contractHash(contract)
      const pending = JSON.parse(run.pending_events) as ReadonlyArray<Timed>
      const granted: ReadonlyArray<Timed> = approvedBy === undefined ? [] : [{ event: { type: "consent.granted", by: approvedBy }, ts: at }]
      const withContract = { ...run, contract_hash: hash, event_count: 0, head: null }
      const entries = yield* appendPlaneEvents(store, withContract, [...pending, ...granted])
      const updated = yield* store.updateRun(run.id, ["awaiting_approval"], {
        state: "queued",
        contract: JSON.stringify(contract),
        contract_hash: hash,
        ...advanced(withContract, entries),
        ...(approvedBy === undefined ? {} : { approved_by: JSON.stringify(approvedBy) }),
        pending_events: "[]",
        queued_at: at,
        updated_at: at
      })
      return { run: Option.getOrThrow(updated), contract }
    })

  const create: RunsShape["create"] = Effect.fn("Runs.create")(function*(caller, request) {
    const principal = yield* requireRole(caller, ["requester", "admin"], "create runs")
    // A manifest no runner could materialise is refused now, not at claim time on a runner.
    const materialisable = precheck(request.workspace)
    if (Either.isLeft(materialisable)) {
      const problem = materialisable.left
      const reason = problem._tag === "PathEscape" ? `${problem.path}: ${problem.reason}` : problem.reason
      return yield* new BadRequest({ message: `the workspace manifest cannot be materialised: ${reason}`, details: { issues: [{ path: "$.workspace", message: reason }] } })
    }
    const malformed = unsignable(request, "$")
    if (malformed !== undefined) return yield* malformed
    const evaluation = evaluate(policy, request)
    const blobs = yield* blobStatus(principal, request)
    if (request.dryRun === true) return { _tag: "dry-run" as const, report: disclosureReport(request, evaluation, blobs, thePolicyHash) }
    if (evaluation.decision === "deny") {
      const [first, ...rest] = evaluation.violations
      return yield* new PolicyDenied({
        message: `policy denies this run: ${evaluation.violations.map((v) => v.message).join("; ")}`,
        details: { policyHash: thePolicyHash, violations: [first!, ...rest] }
      })
    }
    const unusable = blobs.filter((b) => !b.uploaded).map((b) => b.hash)
    if (unusable.length > 0) {
      return yield* new BlobRejected({
        message: `the workspace references ${unusable.length} blob(s) you have not uploaded with the declared size; PUT /blobs/<hash> each one first`,
        details: { hashes: unusable }
      })
    }
    const at = yield* now
    const runId = newRunId(Date.parse(at))
    const requestedBy = principal.principal
    const draft = draftOf(runId, request, evaluation, requestedBy, thePolicyHash)
    const pending: Array<Timed> = [
      { event: { type: "run.created", runId, requestedBy }, ts: at },
      { event: { type: "policy.evaluated", policyHash: thePolicyHash, decision: evaluation.decision, reasons: evaluation.consentRules.map((r) => `consent rule ${r}`) }, ts: at }
    ]
    if (evaluation.decision === "ask") {
      pending.push({ event: { type: "consent.requested", rules: evaluation.consentRules, reason: "the request matches consent rules that need a human's approval" }, ts: at })
    }
    return yield* store.transaction(Effect.gen(function*() {
      yield* insertRun(runId, request, evaluation, requestedBy, draft, at, pending)
      for (const blob of blobs) yield* store.grantBlob(blob.hash, `run:${runId}`)
      const inserted = Option.getOrThrow(yield* store.getRun(runId))
      if (evaluation.decision === "ask") return { _tag: "created" as const, run: runView(inserted) }
      const queued = yield* queue(inserted, at)
      return { _tag: "created" as const, run: runView(queued.run), contract: queued.contract }
    }))
  })

  const loadVisible = (caller: CallerShape, runId: RunId) =>
    Effect.flatMap(store.getRun(runId), (row) => visible(caller, Option.getOrUndefined(row), runId))

  const detail = (row: RunRow): RunDetailView => ({
    run: runView(row),
    ...Option.match(contractOf(row), { onNone: () => ({}), onSome: (contract) => ({ contract }) }),
    ...Option.match(receiptOf(row), { onNone: () => ({}), onSome: (receipt) => ({ receipt }) }),
    ...(row.state === "awaiting_approval" ? { pending: pendingOf(row) } : {})
  })

  const conflict = (run: RunRow, message: string) => new Conflict({ message, details: { resource: "run", id: run.id, state: run.state } })

  const end: RunsShape["end"] = Effect.fn("Runs.end")(function*(run, state, event, failure) {
    const at = yield* now
    const last = run.event_count === 0 ? undefined : entryOf((yield* store.getEvents(run.id, run.event_count - 1))[0]!)
    // A chain that already holds its terminal event (the runner's) cannot take another.
    const open = run.contract_hash !== null && (last === undefined || !["run.completed", "run.failed", "run.cancelled"].includes(last.event.type))
    const entries = open ? yield* appendPlaneEvents(store, run, [{ event, ts: at }]) : []
    const updated = yield* store.updateRun(run.id, [run.state], {
      state,
      ...advanced(run, entries),
      failure_class: failure.failureClass,
      failure_message: failure.message,
      pending_events: "[]",
      updated_at: at
    })
    yield* store.spendClaims(run.id, at)
    return updated
  })

  return Runs.of({
    create,
    get: (caller, runId) => Effect.map(loadVisible(caller, runId), detail),
    list: Effect.fn("Runs.list")(function*(caller, params) {
      const principal = yield* requireRole(caller, ["requester", "approver", "admin"], "list runs")
      const own = principal.role === "requester" ? principal.principal.id : params.requestedBy
      const rows = yield* store.listRuns({
        ...(params.state === undefined ? {} : { state: params.state }),
        ...(params.pool === undefined ? {} : { pool: params.pool }),
        ...(own === undefined ? {} : { requesterId: own }),
        ...(params.since === undefined ? {} : { since: params.since }),
        limit: params.limit ?? 100
      })
      return rows.filter((r) => canSee(caller, r)).map(runView)
    }),
    events: (caller, runId) =>
      Effect.flatMap(loadVisible(caller, runId), (row) => Effect.map(store.getEvents(row.id), (rows) => rows.map(entryOf))),
    approve: Effect.fn("Runs.approve")(function*(caller, runId) {
      const approver = yield* requireRole(caller, ["approver", "admin"], "approve runs")
      return yield* store.transaction(Effect.gen(function*() {
        const run = yield* loadVisible(caller, runId)
        if (run.state !== "awaiting_approval") return yield* conflict(run, `run ${runId} is ${run.state}, not awaiting approval`)
        if (run.requester_id === approver.principal.id) {
          return yield* new Forbidden({
            message: `${approver.principal.id} requested run ${runId} and cannot also approve it; another approver must`,
            details: { caller: approver.principal.id, allowed: ["an approver other than the requester"] }
          })
        }
        const queued = yield* queue(run, yield* now, approver.principal)
        return detail(queued.run)
      }))
    }),
    cancel: Effect.fn("Runs.cancel")(function*(caller, runId, reason) {
      const principal = yield* requireRole(caller, ["requester", "approver", "admin"], "cancel runs")
      const malformed = unsignable(reason ?? "", "$.reason")
      if (malformed !== undefined) return yield* malformed
      return yield* store.transaction(Effect.gen(function*() {
        const run = yield* loadVisible(caller, runId)
        if (!(liveStates as ReadonlyArray<string>).includes(run.state)) return yield* conflict(run, `run ${runId} already ended (${run.state}); there is nothing to cancel`)
        const event: RunEvent = { type: "run.cancelled", by: principal.principal, ...(reason === undefined ? {} : { reason }) }
        const ended = yield* end(run, "cancelled", event, { failureClass: "cancelled", message: reason ?? `cancelled by ${principal.principal.id}` })
        return runView(Option.getOrThrow(ended))
      }))
    }),
    bundle: Effect.fn("Runs.bundle")(function*(caller, runId) {
      const run = yield* loadVisible(caller, runId)
      const receipt = receiptOf(run)
      const contract = contractOf(run)
      if (Option.isNone(receipt) || Option.isNone(contract) || run.runner_id === null) {
        return yield* conflict(run, `run ${runId} has no receipt yet (it is ${run.state}); a bundle exists once its runner completes it`)
      }
      const runner = Option.getOrThrow(yield* store.getRunner(run.runner_id))
      const entries = (yield* store.getEvents(run.id)).map(entryOf)
      return makeBundle({
        contract: contract.value,
        entries,
        receipt: receipt.value,
        keys: [signer.record, runnerKeyOf(runner)]
      })
    }),
    end
  })
})

export const layer = Layer.effect(Runs, make)

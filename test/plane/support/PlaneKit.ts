/**
 * Shared moves for the plane's tests, all over real loopback HTTP with the typed client: a plane
 * with principals, an enrolled runner with its own key, a valid run request, and a runner's side
 * of a run (continue the chain, sign the receipt, complete).
 */
import { Effect, Option, Redacted, Schema } from "effect"
import { make as makeChain } from "../../../src/chain/EventChain.js"
import { verifyWith } from "../../../src/crypto/ContractSigning.js"
import { generateKey } from "../../../src/crypto/Ed25519.js"
import * as Signer from "../../../src/crypto/Signer.js"
import { Contract } from "../../../src/protocol/Contract.js"
import type { ChainEntry, RunEvent } from "../../../src/protocol/Event.js"
import { sha256 } from "../../../src/protocol/Hash.js"
import { PoolName, RunnerId } from "../../../src/protocol/Ids.js"
import { WorkspacePath } from "../../../src/protocol/WorkspacePath.js"
import type { Claimed, RunRequest } from "../../../src/plane/ApiModel.js"
import { makeClient, type PlaneClient } from "../../../src/plane/Client.js"
import { PlaneInfo } from "../../../src/plane/PlaneInfo.js"
import { signReceipt } from "../../../src/receipt/ReceiptBuilder.js"

export const path = Schema.decodeSync(WorkspacePath)
export const pool = Schema.decodeSync(PoolName)("default")
export const encodeContract = Schema.encodeSync(Contract)

/** A request the sample policy allows: a shell command on the process tier, one allowed host. */
export const request = (overrides: Partial<RunRequest> = {}): RunRequest => ({
  agent: "command",
  task: { prompt: "npm test" },
  execution: {
    command: { kind: "shell", shell: "sh", script: "npm test" },
    cwd: path("."),
    timeoutMs: 60_000,
    log: { maxBytes: 65_536 },
    env: { inherit: [], vars: { CI: "1" }, secrets: [], egressProxy: true }
  },
  pool,
  isolation: { tier: "process", enforce: [] },
  workspace: {
    version: "warrant.manifest.v1",
    source: "directory",
    files: [{ path: path("package.json"), hash: sha256("{}\n"), size: 3 }],
    denied: [],
    deniedPatterns: []
  },
  network: { defaultDeny: true, allowHosts: ["registry.npmjs.org"] },
  budget: { maxDurationMin: 10 },
  disclosure: "metadata-only",
  ...overrides
})

export interface Principals {
  readonly url: string
  readonly planeKey: PlaneInfo["Type"]["planeKey"]
  readonly adminToken: string
  readonly admin: PlaneClient
  readonly requester: PlaneClient
  readonly requesterToken: string
  readonly approver: PlaneClient
  readonly approverToken: string
  readonly anonymous: PlaneClient
}

/** The started plane's admin, plus a requester "alice" and an approver "bob". */
export const principals = Effect.gen(function*() {
  const info = yield* PlaneInfo
  const adminToken = Redacted.value(Option.getOrThrow(info.adminToken))
  const admin = yield* makeClient(info.url, adminToken)
  const alice = yield* admin.admin.createPrincipal({ payload: { id: "alice", kind: "human", role: "requester" } })
  const bob = yield* admin.admin.createPrincipal({ payload: { id: "bob", kind: "human", role: "approver" } })
  return {
    url: info.url,
    planeKey: info.planeKey,
    adminToken,
    admin,
    requester: yield* makeClient(info.url, alice.token),
    requesterToken: Redacted.value(alice.token),
    approver: yield* makeClient(info.url, bob.token),
    approverToken: Redacted.value(bob.token),
    anonymous: yield* makeClient(info.url)
  } satisfies Principals
})

export interface EnrolledRunner {
  readonly runnerId: RunnerId
  readonly token: string
  readonly client: PlaneClient
  readonly signer: Signer.SignerShape
}

export const freshSigner = () => Signer.make(Redacted.make(generateKey().secretKey))

/** Mints an enroll token as admin and enrolls a runner with a fresh key. */
export const enrollRunner = (p: Principals, name?: string, poolName = pool) =>
  Effect.gen(function*() {
    const signer = freshSigner()
    const minted = yield* p.admin.admin.createEnrollToken({ payload: { pool: poolName } })
    const enrolled = yield* p.anonymous.enroll.enroll({
      payload: { enrollToken: minted.token, publicKey: signer.publicKey, ...(name === undefined ? {} : { name: Schema.decodeSync(RunnerId)(name) }) }
    })
    const token = Redacted.value(enrolled.runnerToken)
    return { runnerId: enrolled.runnerId, token, client: yield* makeClient(p.url, token), signer } satisfies EnrolledRunner
  })

export const claimOrFail = (runner: EnrolledRunner) =>
  Effect.flatMap(runner.client.runner.claim(), (claimed) => claimed._tag === "claimed" ? Effect.succeed(claimed) : Effect.dieMessage("nothing to claim"))

/** The events a runner adds after the plane's claim entries, ending in `run.completed`. */
export const runnerEvents = (manifestHash: ChainEntry["hash"]): ReadonlyArray<RunEvent> => [
  { type: "workspace.materialized", manifestHash },
  {
    type: "sandbox.attested",
    tier: "process",
    matrix: { read: "attested", write: "attested", command: "enforced", network: "attested", env: "enforced" },
    required: ["read", "write", "network", "env"],
    enforce: []
  },
  { type: "command.executed", argvHash: sha256("sh\0-c\0npm test"), exitCode: 0, durationMs: 12 },
  { type: "network.connected", host: "registry.npmjs.org", port: 443, decision: "allowed", reason: "allowlisted" },
  { type: "run.completed", exitCode: 0 }
]

/** The runner's side: verify the contract, continue the chain with `events`, sign the receipt. */
export const runnerSide = (p: Pick<Principals, "planeKey">, runner: EnrolledRunner, claimed: Claimed, events?: (manifestHash: ChainEntry["hash"]) => ReadonlyArray<RunEvent>) =>
  Effect.gen(function*() {
    const verified = yield* verifyWith({ trustedIssuers: [p.planeKey] })(encodeContract(claimed.contract))
    const chain = yield* makeChain(verified.contractHash, claimed.entries)
    for (const event of (events ?? runnerEvents)(verified.manifestHash)) yield* chain.append(event)
    const entries = yield* chain.entries
    const receipt = yield* signReceipt({ contract: verified, entries, runner: { runnerId: runner.runnerId, pool: claimed.contract.runner.pool, isolation: "process" } }).pipe(
      Effect.provideService(Signer.Signer, runner.signer)
    )
    return { verified, entries, fresh: entries.slice(claimed.entries.length), receipt }
  })

/** A claim client for one claimed run. */
export const claimClient = (p: Pick<Principals, "url">, claimed: Claimed) => makeClient(p.url, claimed.claimToken)

/** Claim, post the runner's events, complete: the whole happy path for one queued run. */
export const completeOne = (p: Principals, runner: EnrolledRunner) =>
  Effect.gen(function*() {
    const claimed = yield* claimOrFail(runner)
    const side = yield* runnerSide(p, runner, claimed)
    const claim = yield* claimClient(p, claimed)
    const runId = claimed.contract.runId
    yield* claim.runner.postEvents({ path: { runId }, payload: { entries: side.fresh } })
    const completed = yield* claim.runner.complete({ path: { runId }, payload: { receipt: side.receipt } })
    return { claimed, side, claim, completed, runId }
  })

export interface RawResponse {
  readonly status: number
  readonly body: unknown
}

/** A raw request, for what the typed client would refuse to send. */
export const raw = (url: string, method: string, path: string, options: { readonly token?: string; readonly body?: string | Uint8Array; readonly contentType?: string } = {}) =>
  Effect.promise(async (): Promise<RawResponse> => {
    const headers: Record<string, string> = {}
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    if (options.body !== undefined) headers["content-type"] = options.contentType ?? "application/json"
    const response = await fetch(url + path, { method, headers, ...(options.body === undefined ? {} : { body: options.body }) })
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON: kept as text
    }
    return { status: response.status, body }
  })

/** The error name of a typed client failure, e.g. "PolicyDenied". */
export const errorTag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => e._tag))

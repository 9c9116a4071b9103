/**
 * Helpers for the runs and blobs tests: a policy and requests in their wire form (decoded through
 * the real schemas), blobs with their hashes, more requesters, and raw requests for what the typed
 * client hides (the status code, a body without a content-length).
 */
import { Effect, Redacted, Schema } from "effect"
import { RunRequest } from "../../../src/plane/ApiModel.js"
import { makeClient } from "../../../src/plane/Client.js"
import { sha256, type Sha256 } from "../../../src/protocol/Hash.js"
import { Policy } from "../../../src/protocol/Policy.js"
import { type Principals, raw, request, type RawResponse } from "./PlaneKit.js"

type PolicyIn = typeof Policy.Encoded
type RequestIn = typeof RunRequest.Encoded
type ExecutionIn = RequestIn["execution"]
type EnvIn = ExecutionIn["env"]

/** One pool, three agents, a releasable secret, an inheritable variable, network enforced; deny by default. */
export const basePolicy: PolicyIn = {
  version: "warrant.policy.v1",
  pools: ["default"],
  agents: ["claude-code", "mock", "command"],
  isolationTiers: ["process", "namespace"],
  network: { defaultDeny: true, allowHosts: ["registry.npmjs.org"] },
  releasableSecrets: ["NPM_TOKEN"],
  inheritEnv: ["PATH"],
  budget: { maxDurationMin: 30, maxTimeoutMs: 600_000 },
  consent: [],
  enforce: ["network"]
}

export const policyWith = (patch: Partial<PolicyIn> = {}): Policy => Schema.decodeUnknownSync(Policy)({ ...basePolicy, ...patch })

const encodeRequest = Schema.encodeSync(RunRequest)
const decodeRequest = Schema.decodeUnknownSync(RunRequest)

/** The kit's allowed request with parts replaced, in wire form; `timeoutMs: undefined` drops the timeout. */
export const requestWith = (patch: Partial<RequestIn> = {}, execution: Partial<ExecutionIn> = {}, env: Partial<EnvIn> = {}): RunRequest => {
  const base = encodeRequest(request())
  const merged: Record<string, unknown> = { ...base.execution, ...execution, env: { ...base.execution.env, ...env } }
  if ("timeoutMs" in execution && execution.timeoutMs === undefined) delete merged.timeoutMs
  return decodeRequest({ ...base, ...patch, execution: merged })
}

/** POST /runs with the request's wire form, for the status code and the body as sent. */
export const createRaw = (url: string, token: string, body: RunRequest): Effect.Effect<RawResponse> =>
  raw(url, "POST", "/runs", { token, body: JSON.stringify(encodeRequest(body)) })

export interface Blob {
  readonly bytes: Uint8Array
  readonly hash: Sha256
  readonly size: number
}

export const blob = (content: string | Uint8Array): Blob => {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content
  return { bytes, hash: sha256(bytes), size: bytes.byteLength }
}

/** Another principal with its own typed client. */
export const principal = (p: Principals, id: string, role: "requester" | "approver" | "admin" = "requester") =>
  Effect.gen(function*() {
    const created = yield* p.admin.admin.createPrincipal({ payload: { id, kind: "human", role } })
    const token = Redacted.value(created.token)
    return { id, token, client: yield* makeClient(p.url, token) }
  })

/** A PUT whose body is streamed in chunks, so it carries no content-length. */
export const putChunked = (url: string, token: string, hash: string, chunks: ReadonlyArray<Uint8Array>) =>
  Effect.promise(async (): Promise<RawResponse> => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk)
        controller.close()
      }
    })
    const response = await fetch(`${url}/blobs/${hash}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body,
      duplex: "half"
    } as RequestInit)
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // not JSON: kept as text
    }
    return { status: response.status, body: parsed }
  })

export { types } from "./RunKit.js"

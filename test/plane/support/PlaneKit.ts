/**
 * Shared moves for the plane's tests, all over real loopback HTTP with the typed client: a plane
 * with principals, an enrolled runner with its own key, a valid run request, and a runner's side
 * of a run (continue the chain, sign the receipt, complete).
 */
import { Effect, Option, Redacted, Schema } from "effect"
import * as net from "node:net"
import { RunnerId } from "../../../src/protocol/Ids.js"
import type { Claimed } from "../../../src/plane/ApiModel.js"
import { makeClient, type PlaneClient } from "../../../src/plane/Client.js"
import { PlaneInfo } from "../../../src/plane/PlaneInfo.js"
import type * as Signer from "../../../src/crypto/Signer.js"
import { freshSigner, pool, runnerSide } from "../../../src/testkit/PlaneRun.js"

export { encodeContract, freshSigner, path, pool, request, runnerEvents, runnerSide } from "../../../src/testkit/PlaneRun.js"

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

/** A raw response's status and body (JSON when it parses, else text), cut at its Content-Length. */
const parseResponse = (text: string): RawResponse => {
  const split = text.indexOf("\r\n\r\n")
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1]
  const rest = split < 0 ? "" : text.slice(split + 4)
  const bodyText = length === undefined ? rest : Buffer.from(rest).subarray(0, Number(length)).toString("utf8")
  try {
    return { status, body: JSON.parse(bodyText) }
  } catch {
    return { status, body: bodyText }
  }
}

/**
 * One HTTP/1.1 exchange written byte for byte on a TCP socket, for what fetch will not send (two
 * Authorization headers, raw UTF-8, framing that lies or conflicts). A Content-Length is added
 * unless `head` frames the body; `halfClose` ends the sending side after the bytes. Resolves with
 * the response once the server closes the connection (status 0 when it sent none).
 */
export const rawHttp = (url: string, head: ReadonlyArray<string>, body = "", options: { readonly halfClose?: boolean } = {}) =>
  Effect.async<RawResponse>((resume) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect(Number(port), hostname)
    const chunks: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("close", () => resume(Effect.succeed(parseResponse(Buffer.concat(chunks).toString("utf8")))))
    socket.on("error", () => socket.destroy())
    const framed = head.some((h) => /^(content-length|transfer-encoding):/i.test(h))
    const lines = [...head, `Host: ${hostname}:${port}`, ...(framed ? [] : [`Content-Length: ${Buffer.byteLength(body)}`]), "Connection: close"]
    socket.write(Buffer.from(`${lines.join("\r\n")}\r\n\r\n${body}`, "utf8"), () => {
      if (options.halfClose === true) socket.end()
    })
    return Effect.sync(() => socket.destroy())
  })

/** The error name of a typed client failure, e.g. "PolicyDenied". */
export const errorTag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => e._tag))

/**
 * The edge of the plane's API: a body-size limit before anything is read, a nesting limit before
 * JSON is decoded, and every failure that is not one of the API's own errors (unreadable JSON, a
 * schema decode failure, an unknown route, a defect) restated as one that is, so every answer has
 * the same `{ error, message, details }` body. A defect's cause is logged under a request id and
 * never sent.
 */
import { HttpApiBuilder, type HttpApiError, HttpMethod, HttpServerRequest } from "@effect/platform"
import { withMaxBodySize } from "@effect/platform/HttpIncomingMessage"
import { Cause, Effect, Option, Schema } from "effect"
import { randomBytes } from "node:crypto"
import type { Server } from "node:http"
import type { Socket } from "node:net"
import type { Duplex } from "node:stream"
import { MAX_DEPTH } from "../protocol/Canonical.js"
import { Api } from "./Api.js"
import { BadRequest, InternalError, LengthRequired, NotFound, PayloadTooLarge } from "./ApiErrors.js"

export interface BodyLimits {
  readonly maxJsonBytes: number
  readonly maxBlobBytes: number
}

const tooLarge = (limit: number) => new PayloadTooLarge({ message: `the request body is larger than ${limit} bytes`, details: { limitBytes: limit } })

const pathText = (path: ReadonlyArray<PropertyKey>) =>
  path.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : `${acc}.${String(k)}`), "$")

/** HttpApi's decode failures, restated: one line per bad field, at most 20, each clipped. */
const restate = (error: HttpApiError.HttpApiDecodeError) => {
  const issues = error.issues.slice(0, 20).map((i) => ({ path: pathText(i.path), message: i.message.slice(0, 500) }))
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ")
  return new BadRequest({ message: `the request is malformed: ${summary === "" ? "invalid input" : summary}`, details: { issues } })
}

const encodeBadRequest = Schema.encodeSync(BadRequest)

/**
 * What Node's HTTP parser refuses before any handler runs (a Content-Length that lies or is no
 * number, broken chunking) gets the same structured 400 body instead of Node's bare status line.
 */
export const structuredClientErrors = (server: Server): Server =>
  server.on("clientError", (error: Error & { readonly code?: string }, socket: Duplex) => {
    if (error.code === "ECONNRESET" || !socket.writable || (socket as Socket).bytesWritten > 0) return void socket.destroy()
    const reason = error.code ?? error.message
    const body = JSON.stringify(encodeBadRequest(new BadRequest({ message: `the request is not valid HTTP/1.1 (${reason}); check its framing (Content-Length, Transfer-Encoding, headers)`, details: { issues: [] } })))
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  })

/** Whether JSON text opens more than `limit` arrays or objects inside one another (strings skipped). */
export const nestedDeeperThan = (text: string, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash escapes the next character, a quote included
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/**
 * A JSON body is checked for depth before it is decoded: a decode failure describes the value
 * it got, and describing thousands of nested arrays overflows the stack (a 500, not a 400).
 * Nothing this API reads nests more than a few levels; canonical JSON refuses beyond MAX_DEPTH.
 * The body text is read once and cached, so the decoder parses the same text afterwards.
 */
const shallowJson = (request: HttpServerRequest.HttpServerRequest) => {
  // The rule HttpApi uses to decide it parses the body as JSON (no or an empty content type: JSON).
  const json = HttpMethod.hasBody(request.method) && (request.headers["content-type"] || "application/json").toLowerCase().includes("application/json")
  return json
    ? Effect.flatMap(request.text, (text) =>
      nestedDeeperThan(text, MAX_DEPTH)
        ? Effect.fail(new BadRequest({ message: `the JSON body nests arrays or objects deeper than ${MAX_DEPTH} levels; no request to this API nests more than a few`, details: { issues: [{ path: "$", message: `nested deeper than ${MAX_DEPTH} levels` }] } }))
        : Effect.void)
    : Effect.void
}

const isTooLarge = (cause: unknown): boolean => cause instanceof Error && cause.message === "maxBytes exceeded"

type Restated = BadRequest | NotFound | PayloadTooLarge | InternalError

const restateCause = (request: HttpServerRequest.HttpServerRequest, limit: number, cause: Cause.Cause<unknown>): Effect.Effect<never, Restated | unknown> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
  const error = Cause.squash(cause) as { readonly _tag?: string; readonly cause?: unknown }
  const route = request.url.split("?")[0]!
  switch (error._tag) {
    case "HttpApiDecodeError":
      return Effect.fail(restate(error as HttpApiError.HttpApiDecodeError))
    case "RequestError":
      return Effect.fail(isTooLarge(error.cause) ? tooLarge(limit) : new BadRequest({ message: "the request body could not be read; send one valid JSON document", details: { issues: [] } }))
    case "RouteNotFound":
      return Effect.fail(new NotFound({ message: `no endpoint ${request.method} ${route}; see GET /openapi.json`, details: { resource: "route", id: route } }))
  }
  // A failure the API declares is encoded as it is; anything else is a defect of ours.
  if (Cause.isFailType(cause) || Option.isSome(Cause.failureOption(cause)) && Cause.defects(cause).length === 0) return Effect.failCause(cause)
  const requestId = randomBytes(8).toString("hex")
  return Effect.logError(`request ${requestId} (${request.method} ${route}) failed`, cause).pipe(
    Effect.zipRight(Effect.fail(new InternalError({ message: `the plane failed on this request; its log has the cause under request id ${requestId}`, details: { requestId } })))
  )
}

// Typed loosely at the seam: failures re-raised unchanged are the API's own, the rest restated.
export const layer = (limits: BodyLimits) =>
  HttpApiBuilder.middleware(Api, (app) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const limit = request.url.startsWith("/blobs/") ? limits.maxBlobBytes : limits.maxJsonBytes
      const length = request.headers["content-length"]
      // A body without a declared length could only be cut off mid-stream, with no answer the
      // client can read; asking for the length keeps every refusal a structured response.
      if (length === undefined && request.headers["transfer-encoding"] !== undefined) {
        return yield* new LengthRequired({ message: `send the body with a Content-Length (at most ${limit} bytes here), not chunked`, details: { limitBytes: limit } })
      }
      const declared = Number(length ?? "0")
      if (!Number.isFinite(declared) || declared > limit) return yield* tooLarge(limit)
      return yield* withMaxBodySize(Effect.zipRight(shallowJson(request), app), Option.some(limit)).pipe(Effect.catchAllCause((cause) => restateCause(request, limit, cause)))
    }) as never)

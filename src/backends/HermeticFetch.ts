/**
 * The only way out of a hermetic session: the fetch just-bash's `curl` calls. Every request,
 * and every redirect hop, is decided by the egress rules (host policy, one resolution, every
 * address checked) and recorded, allowed or blocked; an allowed one is dialled over node's
 * own HTTP client pinned to the address that was checked, so a name is never looked up twice.
 */
import * as http from "node:http"
import * as https from "node:https"
import type { LookupFunction } from "node:net"
import { Cause, Duration, Effect, Either, Exit, Runtime } from "effect"
import type { SecureFetch } from "just-bash"
import { type Address, formatAddress } from "../egress/Address.js"
import { decide } from "../egress/Decide.js"
import type { EgressDecision, EgressReason } from "../egress/EgressDecision.js"
import { defaultPort, type EgressPolicy } from "../egress/EgressPolicy.js"
import { hostText } from "../egress/Host.js"
import type { Resolver } from "../egress/Resolver.js"
import { checkHost } from "../egress/Wire.js"
import { parseTarget, redirectMethod, redirectStatuses, type Target } from "./HermeticNetwork.js"

type FetchOptions = NonNullable<Parameters<SecureFetch>[1]>
type FetchResult = Awaited<ReturnType<SecureFetch>>

export const MAX_REDIRECTS = 20
export const REQUEST_TIMEOUT_MS = 30_000
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024

/** Headers a redirect to another origin must not carry (curl drops them too). */
const credentialHeaders = ["authorization", "cookie", "proxy-authorization"] as const

// ---------------------------------------------------------------------------------------------
// The session's decisions
// ---------------------------------------------------------------------------------------------

export interface NetworkLog {
  /** Records a decision as it is made; returns its id. */
  readonly add: (decision: Omit<EgressDecision, "id">) => number
  /** Completes an allowed decision once its transfer is over. */
  readonly complete: (id: number, outcome: Pick<EgressDecision, "bytesUp" | "bytesDown" | "upstreamError">) => void
  readonly decisions: () => ReadonlyArray<EgressDecision>
}

export const makeNetworkLog = (): NetworkLog => {
  const decisions: Array<EgressDecision> = []
  return {
    add: (decision) => decisions.push({ id: decisions.length, ...decision }) - 1,
    complete: (id, outcome) => {
      const decision = decisions[id]
      if (decision !== undefined) decisions[id] = { ...decision, ...outcome }
    },
    decisions: () => [...decisions]
  }
}

/** just-bash's own errors, whose messages curl turns into its exit codes (7, 47). */
export interface Refusals {
  readonly denied: (url: string, reason: string) => Error
  readonly redirectDenied: (url: string) => Error
  readonly tooManyRedirects: (max: number) => Error
}

export interface FetchSession {
  readonly policy: EgressPolicy
  readonly log: NetworkLog
  readonly refusals: Refusals
}

// ---------------------------------------------------------------------------------------------
// One hop: decide, then dial the checked address
// ---------------------------------------------------------------------------------------------

interface Request {
  readonly method: string
  readonly headers: Headers
  readonly body: string | undefined
}

interface Allowed {
  readonly target: Target
  readonly address: Address
  readonly id: number
}

interface Blocked {
  readonly host: string
  readonly port?: number
  readonly reason: EgressReason
  readonly detail: string
  readonly resolvedAddress?: string
}

const rawHeaders = (headers: Headers): ReadonlyArray<string> => [...headers].flat()

const decideHop = (session: FetchSession, raw: string, request: Request): Effect.Effect<Allowed, Blocked, Resolver> =>
  Effect.gen(function*() {
    const parsed = parseTarget(raw)
    if (Either.isLeft(parsed)) return yield* Effect.fail<Blocked>(parsed.left)
    const target = parsed.right
    const { authority, mode } = target
    const where = { host: hostText(authority.host), port: authority.port }
    const host = checkHost(rawHeaders(request.headers), authority, defaultPort(mode))
    if (host._tag === "Invalid") return yield* Effect.fail<Blocked>({ ...where, reason: "invalid-authority", detail: host.detail })
    if (host._tag === "Mismatch") return yield* Effect.fail<Blocked>({ ...where, reason: "host-mismatch", detail: host.detail })
    const allowed = yield* decide(session.policy, authority, mode).pipe(
      Effect.mapError((refused): Blocked => ({
        ...where,
        reason: refused.reason,
        detail: refused.detail,
        ...(refused.resolvedAddress === undefined ? {} : { resolvedAddress: refused.resolvedAddress })
      }))
    )
    const id = session.log.add({
      kind: "http",
      ...where,
      decision: "allowed",
      reason: allowed.reason,
      detail: allowed.detail,
      resolvedAddress: formatAddress(allowed.address)
    })
    return { target, address: allowed.address, id }
  })

/** A lookup that always answers with the address the rules checked. */
const pinnedLookup = (address: Address): LookupFunction => {
  const text = formatAddress(address)
  return (_hostname, options, callback) =>
    options.all === true ? callback(null, [{ address: text, family: address.family }]) : callback(null, text, address.family)
}

interface Response {
  readonly status: number
  readonly statusText: string
  readonly headers: Record<string, string>
  readonly body: Uint8Array
}

const responseHeaders = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

const transfer = ({ address, target }: Allowed, request: Request, body: Buffer | undefined): Effect.Effect<Response, Error> =>
  Effect.async<Response, Error>((resume) => {
    let settled = false
    const settle = (effect: Effect.Effect<Response, Error>) => {
      if (settled) return
      settled = true
      resume(effect)
    }
    // Host names the URL's authority (a different one was refused); the body is framed here.
    const headers: Record<string, string> = { host: target.url.host }
    for (const [name, value] of request.headers) {
      if (name !== "host" && name !== "content-length" && name !== "transfer-encoding") headers[name] = value
    }
    if (body !== undefined) headers["content-length"] = String(body.length)
    const client = target.secure ? https : http
    const hostname = target.authority.host._tag === "Ip" ? formatAddress(address) : target.url.hostname
    const req = client.request({
      host: hostname,
      port: target.authority.port,
      path: `${target.url.pathname}${target.url.search}`,
      method: request.method,
      headers,
      agent: false,
      lookup: pinnedLookup(address),
      ...(target.secure && target.authority.host._tag === "Name" ? { servername: hostname } : {})
    }, (res) => {
      const chunks: Array<Buffer> = []
      let size = 0
      res.on("data", (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy()
          settle(Effect.fail(new Error(`the response body is larger than ${MAX_RESPONSE_BYTES} bytes`)))
          return
        }
        chunks.push(chunk)
      })
      res.on("end", () =>
        settle(Effect.succeed({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? "",
          headers: responseHeaders(res.headers),
          body: new Uint8Array(Buffer.concat(chunks, size))
        })))
      res.on("error", (error) => settle(Effect.fail(error)))
    })
    req.on("error", (error) => settle(Effect.fail(error)))
    req.end(body)
    return Effect.sync(() => req.destroy())
  })

/** Decides, records, dials; a blocked hop fails with the error curl reports. */
const exchange = (
  session: FetchSession,
  url: string,
  request: Request,
  timeoutMs: number,
  redirected: boolean
): Effect.Effect<Response, Error, Resolver> =>
  Effect.gen(function*() {
    const allowed = yield* decideHop(session, url, request).pipe(
      Effect.catchAll((blocked) => {
        session.log.add({ kind: "http", decision: "blocked", ...blocked })
        return Effect.fail(redirected ? session.refusals.redirectDenied(url) : session.refusals.denied(url, blocked.detail))
      })
    )
    const body = request.body === undefined ? undefined : Buffer.from(request.body, "utf8")
    return yield* transfer(allowed, request, body).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(timeoutMs),
        onTimeout: () => new Error(`request aborted: no response within ${timeoutMs} ms`)
      }),
      Effect.tap((response) =>
        Effect.sync(() => session.log.complete(allowed.id, { bytesUp: body?.length ?? 0, bytesDown: response.body.length }))
      ),
      Effect.tapError((error) => Effect.sync(() => session.log.complete(allowed.id, { upstreamError: error.message }))),
      Effect.onInterrupt(() =>
        Effect.sync(() => session.log.complete(allowed.id, { upstreamError: "the session stopped the request" }))
      )
    )
  })

// ---------------------------------------------------------------------------------------------
// A whole fetch, redirects included
// ---------------------------------------------------------------------------------------------

const nextUrl = (location: string, base: string): Either.Either<string, Error> => {
  try {
    return Either.right(new URL(location, base).href)
  } catch {
    return Either.left(new Error(`the redirect location ${JSON.stringify(location.slice(0, 200))} is not a URL`))
  }
}

export const fetchUrl = (
  session: FetchSession,
  first: string,
  options: FetchOptions
): Effect.Effect<FetchResult, Error, Resolver> =>
  Effect.gen(function*() {
    const follow = options.followRedirects ?? true
    const maxRedirects = Math.min(options.maxRedirects ?? MAX_REDIRECTS, MAX_REDIRECTS)
    const timeoutMs = Math.min(options.timeoutMs ?? REQUEST_TIMEOUT_MS, REQUEST_TIMEOUT_MS)
    let url = first
    let request: Request = {
      method: (options.method ?? "GET").toUpperCase(),
      headers: new Headers(options.headers),
      body: options.body
    }
    for (let redirects = 0;; redirects++) {
      const response = yield* exchange(session, url, request, timeoutMs, redirects > 0)
      const location = response.headers.location
      if (!follow || !redirectStatuses.has(response.status) || location === undefined) return { ...response, url }
      if (redirects >= maxRedirects) return yield* Effect.fail(session.refusals.tooManyRedirects(maxRedirects))
      const next = yield* nextUrl(location, url)
      const { keepBody, method } = redirectMethod(response.status, request.method)
      const headers = new Headers(request.headers)
      if (new URL(next).origin !== new URL(url).origin) for (const name of credentialHeaders) headers.delete(name)
      if (!keepBody) headers.delete("content-type")
      request = { method, headers, body: keepBody ? request.body : undefined }
      url = next
    }
  })

/**
 * The fetch handed to just-bash. It runs as trusted host code (just-bash's defense-in-depth
 * would otherwise block the HTTP client's internals) and stops when curl's signal aborts.
 */
export const makeSecureFetch = (
  session: FetchSession,
  runtime: Runtime.Runtime<Resolver>,
  trusted: <A>(run: () => Promise<A>) => Promise<A>
): SecureFetch =>
(url, options = {}) =>
  trusted(() =>
    Runtime.runPromiseExit(runtime)(fetchUrl(session, url, options), options.signal === undefined ? {} : { signal: options.signal })
      .then((exit) => {
        if (Exit.isSuccess(exit)) return exit.value
        throw Cause.isInterruptedOnly(exit.cause) ? new Error("request aborted") : Cause.squash(exit.cause)
      })
  )

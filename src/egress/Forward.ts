/**
 * Absolute-form plain HTTP: decide on the URL's authority, then forward the request to the
 * checked address with hop-by-hop and proxy credentials removed, and stream the response
 * back the same way.
 */
import { type ClientRequest, type IncomingMessage, request as httpRequest, type ServerResponse } from "node:http"
import type { Duplex } from "node:stream"
import { Effect, Either } from "effect"
import { formatAddress } from "./Address.js"
import { type Allowed, decide, refused, type Refused } from "./Decide.js"
import { type Authority, hostText, parseAuthority } from "./Host.js"
import type { ProxyContext } from "./ProxyContext.js"
import type { Resolver } from "./Resolver.js"
import { endWith } from "./Tunnel.js"
import {
  checkHost,
  endToEndHeaders,
  rawRefusal,
  type Refusal,
  refusalBody,
  refusalHeaders,
  sanitiseAuthority,
  splitTarget
} from "./Wire.js"

/** The dial target is an IP literal; a lookup reaching here would be a bug, so it fails. */
const noLookup = (hostname: string, _options: unknown, callback: (error: Error) => void) =>
  callback(new Error(`egress proxy refused to look up ${hostname} a second time`))

const hostHeader = (authority: Authority) =>
  authority.port === 80 ? hostText(authority.host) : `${hostText(authority.host)}:${authority.port}`

const refuseNow = (response: ServerResponse, refusal: Refusal) => {
  if (response.headersSent) return void response.destroy()
  const body = refusalBody(refusal)
  response.writeHead(refusal.status, { ...refusalHeaders(refusal), "content-length": Buffer.byteLength(body) })
  response.end(body)
}

const respond = (response: ServerResponse, refusal: Refusal) => Effect.sync(() => refuseNow(response, refusal))

/**
 * The upstream request to the checked address. Node's client validates method, path and
 * headers once more; whatever its parser let through but its client refuses is the
 * client's malformed request, never a crash.
 */
const openUpstream = (
  ctx: ProxyContext,
  request: IncomingMessage,
  path: string,
  authority: Authority,
  allowed: Allowed
): Either.Either<ClientRequest, string> =>
  Either.try({
    try: () =>
      httpRequest({
        host: formatAddress(allowed.address),
        family: allowed.address.family,
        port: authority.port,
        method: request.method,
        path,
        setHost: false,
        headers: [...endToEndHeaders(request.rawHeaders, ["host"]), "Host", hostHeader(authority)],
        agent: ctx.agent,
        lookup: noLookup as never,
        timeout: ctx.settings.idleTimeoutMs
      }),
    catch: (error) => (error as Error).message
  })

const forward = (
  ctx: ProxyContext,
  id: number,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  authority: Authority,
  allowed: Allowed
) =>
  Effect.suspend(() => {
    const counts = { up: 0, down: 0, error: undefined as string | undefined }
    return Effect.async<void>((resume) => {
      if (request.socket.destroyed) {
        // The client left while the name was being resolved: nothing to forward, or to answer.
        counts.error = "the client closed its connection before the request was forwarded"
        return resume(Effect.void)
      }
      const opened = openUpstream(ctx, request, path, authority, allowed)
      if (Either.isLeft(opened)) {
        counts.error = opened.left
        refuseNow(response, { status: 400, proxyError: "http_request_error", detail: `the request cannot be forwarded: ${opened.left}` })
        return resume(Effect.void)
      }
      const upstream = opened.right
      upstream.on("timeout", () => upstream.destroy(new Error(`no bytes for ${ctx.settings.idleTimeoutMs} ms`)))
      upstream.on("error", (error) => {
        counts.error ??= error.message
        refuseNow(response, {
          status: 502,
          proxyError: "connection_refused",
          detail: `${hostText(authority.host)}:${authority.port} failed: ${error.message}`
        })
      })
      upstream.on("response", (reply) => {
        response.writeHead(reply.statusCode ?? 502, reply.statusMessage, endToEndHeaders(reply.rawHeaders))
        reply.on("data", (chunk: Buffer) => {
          counts.down += chunk.length
        })
        reply.on("error", () => response.destroy())
        reply.pipe(response)
      })
      request.on("data", (chunk: Buffer) => {
        counts.up += chunk.length
      })
      request.pipe(upstream)
      response.on("close", () => {
        // A client that went away mid-response must not leave the upstream request running.
        if (!response.writableFinished) upstream.destroy()
        resume(Effect.void)
      })
      return Effect.sync(() => {
        upstream.destroy()
        response.destroy()
      })
    }).pipe(
      Effect.ensuring(Effect.sync(() =>
        ctx.record(id, {
          kind: "http",
          host: hostText(authority.host),
          port: authority.port,
          decision: "allowed",
          reason: allowed.reason,
          detail: allowed.detail,
          resolvedAddress: formatAddress(allowed.address),
          bytesUp: counts.up,
          bytesDown: counts.down,
          ...(counts.error === undefined ? {} : { upstreamError: counts.error })
        })
      ))
    )
  })

type Decided = { readonly authority: Authority; readonly path: string; readonly allowed: Allowed }
type Rejected = { readonly refusal: Refused; readonly host: string; readonly port?: number }

/** The target and the Host header, before any policy: pure. */
const admission = (request: IncomingMessage): Either.Either<{ authority: Authority; path: string }, Rejected> => {
  const target = request.httpVersionMajor === 1
    ? splitTarget(request.url ?? "")
    // Node reads a request line without a version as HTTP/0.9 yet still parses the lines after
    // it as headers; forwarding that as HTTP/1.1 would smuggle them upstream.
    : { _tag: "Unsupported" as const, detail: `HTTP/${request.httpVersion} is not proxied; send HTTP/1.x` }
  if (target._tag === "Unsupported") {
    const absolute = splitTarget(request.url ?? "")
    const named = absolute._tag === "Absolute" ? parseAuthority(absolute.authority, 80) : undefined
    return Either.left({
      refusal: refused("unsupported-request", 400, "http_request_error", target.detail),
      ...(named !== undefined && Either.isRight(named)
        ? { host: hostText(named.right.host), port: named.right.port }
        : { host: sanitiseAuthority(request.headers.host ?? "") })
    })
  }
  const parsed = parseAuthority(target.authority, 80)
  if (Either.isLeft(parsed)) {
    return Either.left({
      refusal: refused("invalid-authority", 400, "http_request_error", parsed.left.detail),
      host: sanitiseAuthority(target.authority)
    })
  }
  const authority = parsed.right
  const hostCheck = checkHost(request.rawHeaders, authority, 80)
  if (hostCheck._tag === "Ok") return Either.right({ authority, path: target.path })
  const mismatch = hostCheck._tag === "Mismatch"
  return Either.left({
    refusal: refused(mismatch ? "host-mismatch" : "invalid-authority", mismatch ? 421 : 400, "http_request_error", hostCheck.detail),
    host: hostText(authority.host),
    port: authority.port
  })
}

/** Everything short of forwarding: the target, the Host header, the policy. */
const admit = (ctx: ProxyContext, request: IncomingMessage): Effect.Effect<Decided, Rejected, Resolver> =>
  Either.match(admission(request), {
    onLeft: Effect.fail,
    onRight: ({ authority, path }) =>
      decide(ctx.policy, authority, "http").pipe(
        Effect.mapBoth({
          onFailure: (refusal): Rejected => ({ refusal, host: hostText(authority.host), port: authority.port }),
          onSuccess: (allowed): Decided => ({ authority, path, allowed })
        })
      )
  })

const recordBlocked = (ctx: ProxyContext, id: number, rejected: Rejected) =>
  ctx.record(id, {
    kind: "http",
    host: rejected.host,
    ...(rejected.port === undefined ? {} : { port: rejected.port }),
    decision: "blocked",
    reason: rejected.refusal.reason,
    detail: rejected.refusal.detail,
    ...(rejected.refusal.resolvedAddress === undefined ? {} : { resolvedAddress: rejected.refusal.resolvedAddress })
  })

export const handleRequest = (
  ctx: ProxyContext,
  request: IncomingMessage,
  response: ServerResponse
): Effect.Effect<void, never, Resolver> => {
  const id = ctx.nextId()
  return admit(ctx, request).pipe(
    Effect.matchEffect({
      onFailure: (rejected) =>
        Effect.zipRight(Effect.sync(() => recordBlocked(ctx, id, rejected)), respond(response, rejected.refusal)),
      onSuccess: ({ allowed, authority, path }) => {
        if (!ctx.slots.take()) {
          const refusal = refused("tunnel-limit", 503, "connection_limit_reached", `the proxy already has ${ctx.settings.maxTunnels} open connections`)
          return Effect.zipRight(
            Effect.sync(() => recordBlocked(ctx, id, { refusal, host: hostText(authority.host), port: authority.port })),
            respond(response, refusal)
          )
        }
        return forward(ctx, id, request, response, path, authority, allowed).pipe(Effect.ensuring(Effect.sync(ctx.slots.give)))
      }
    })
  )
}

/**
 * An Upgrade (WebSocket over plain HTTP) would turn a forwarded request into an unmetered
 * stream the proxy cannot read; clients are told to use CONNECT instead.
 */
export const handleUpgrade = (
  ctx: ProxyContext,
  request: IncomingMessage,
  socket: Duplex
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const id = ctx.nextId()
    const target = splitTarget(request.url ?? "")
    const raw = target._tag === "Absolute" ? target.authority : request.headers.host ?? ""
    const parsed = parseAuthority(raw, 80)
    const refusal = refused("unsupported-request", 501, "http_upgrade_failed", "Upgrade is not proxied; open a CONNECT tunnel instead")
    recordBlocked(ctx, id, Either.isRight(parsed)
      ? { refusal, host: hostText(parsed.right.host), port: parsed.right.port }
      : { refusal, host: sanitiseAuthority(raw) })
    return endWith(socket, rawRefusal(refusal))
  })

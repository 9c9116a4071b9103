/**
 * Absolute-form plain HTTP: admit the request (target, Host header, framing), decide on its
 * authority, then hand it to the relay; Upgrades are refused.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Duplex } from "node:stream"
import { Effect, Either } from "effect"
import { type Allowed, decide, refused, type Refused } from "./Decide.js"
import { type Authority, hostText, parseAuthority } from "./Host.js"
import type { ProxyContext } from "./ProxyContext.js"
import type { Resolver } from "./Resolver.js"
import { endWith } from "./Tunnel.js"
import { notProcessed } from "./Pipelining.js"
import { refuseNow, relay } from "./Relay.js"
import { checkHost, rawRefusal, type Refusal, sanitiseAuthority, splitTarget, unsupportedTransferCoding } from "./Wire.js"

const respond = (ctx: ProxyContext, request: IncomingMessage, response: ServerResponse, refusal: Refusal) =>
  Effect.sync(() => {
    // The refusal closes the connection; requests pipelined behind it are never processed.
    ctx.connections.closing(request.socket)
    refuseNow(response, refusal)
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
  const coding = unsupportedTransferCoding(request.headers["transfer-encoding"])
  if (coding !== undefined) {
    return Either.left({
      refusal: refused("unsupported-request", 501, "http_request_error", `Transfer-Encoding ${JSON.stringify(coding)} is not proxied; only chunked`),
      host: hostText(authority.host),
      port: authority.port
    })
  }
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
  if (ctx.connections.isClosing(request.socket)) return Effect.sync(() => notProcessed(ctx, ctx.nextId(), request, "http"))
  const id = ctx.nextId()
  return admit(ctx, request).pipe(
    Effect.matchEffect({
      onFailure: (rejected) =>
        Effect.zipRight(Effect.sync(() => recordBlocked(ctx, id, rejected)), respond(ctx, request, response, rejected.refusal)),
      onSuccess: ({ allowed, authority, path }) => {
        if (!ctx.slots.take()) {
          const refusal = refused("tunnel-limit", 503, "connection_limit_reached", `the proxy already has ${ctx.settings.maxTunnels} open connections`)
          return Effect.zipRight(
            Effect.sync(() => recordBlocked(ctx, id, { refusal, host: hostText(authority.host), port: authority.port })),
            respond(ctx, request, response, refusal)
          )
        }
        ctx.connections.begin(request.socket)
        return relay(ctx, id, request, response, path, authority, allowed).pipe(
          Effect.ensuring(Effect.sync(() => {
            ctx.slots.give()
            ctx.connections.end(request.socket)
          }))
        )
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
    if (ctx.connections.isClosing(request.socket)) {
      return Effect.sync(() => {
        notProcessed(ctx, ctx.nextId(), request, "http")
        socket.end()
      })
    }
    const id = ctx.nextId()
    const target = splitTarget(request.url ?? "")
    const raw = target._tag === "Absolute" ? target.authority : request.headers.host ?? ""
    const parsed = parseAuthority(raw, 80)
    const refusal = refused("unsupported-request", 501, "http_upgrade_failed", "Upgrade is not proxied; open a CONNECT tunnel instead")
    recordBlocked(ctx, id, Either.isRight(parsed)
      ? { refusal, host: hostText(parsed.right.host), port: parsed.right.port }
      : { refusal, host: sanitiseAuthority(raw) })
    // Responses still owed on this connection go first (RFC 9112 §9.3.2).
    return Effect.zipRight(ctx.connections.idle(request.socket), endWith(socket, rawRefusal(refusal)))
  })

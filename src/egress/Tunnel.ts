/**
 * CONNECT: decide on the authority, dial the checked address, then splice bytes both ways
 * until either side closes, goes idle, or the proxy's scope closes.
 */
import type { IncomingMessage } from "node:http"
import { connect, type Socket } from "node:net"
import type { Duplex } from "node:stream"
import { Effect, Either } from "effect"
import { type Address, formatAddress } from "./Address.js"
import { type Allowed, decide, refused, type Refused } from "./Decide.js"
import { type Authority, hostText, parseAuthority } from "./Host.js"
import { notProcessed } from "./Pipelining.js"
import type { ProxyContext } from "./ProxyContext.js"
import type { Resolver } from "./Resolver.js"
import { checkHost, rawRefusal, sanitiseAuthority } from "./Wire.js"

export class DialFailed {
  readonly _tag = "DialFailed"
  constructor(readonly detail: string) {}
}

/** Connects to exactly this address: an IP literal, so no name lookup can happen. */
export const dial = (address: Address, port: number, timeoutMs: number): Effect.Effect<Socket, DialFailed> =>
  Effect.async<Socket, DialFailed>((resume) => {
    const socket = connect({ host: formatAddress(address), port, family: address.family, noDelay: true })
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)))
    socket.once("connect", () => {
      socket.setTimeout(0)
      // From here on failures surface as "close"; an unheard "error" would crash the process.
      socket.removeAllListeners("error")
      socket.on("error", () => {})
      resume(Effect.succeed(socket))
    })
    socket.once("error", (error) => resume(Effect.fail(new DialFailed(error.message))))
    return Effect.sync(() => socket.destroy())
  })

/** Sends a final response, then closes the socket once it is flushed. */
export const endWith = (socket: Duplex, response: string) =>
  Effect.sync(() => {
    if (socket.writable) socket.end(response, () => socket.destroy())
    else socket.destroy()
  })

/** Splices until both directions are done; interruption destroys both sockets at once. */
const splice = (ctx: ProxyContext, client: Duplex, upstream: Socket, head: Buffer) =>
  Effect.async<void>((resume) => {
    let closed = 0
    const done = () => {
      if (++closed === 2) resume(Effect.void)
    }
    const teardown = () => {
      client.destroy()
      upstream.destroy()
    }
    for (const socket of [client, upstream]) {
      // A client that left while the name was being resolved has already closed.
      if (socket.destroyed) {
        teardown()
        if (socket.closed) done()
        else socket.once("close", done)
        continue
      }
      socket.on("error", teardown)
      socket.on("close", () => {
        teardown()
        done()
      })
      if ("setTimeout" in socket && typeof socket.setTimeout === "function") {
        ;(socket as Socket).setTimeout(ctx.settings.idleTimeoutMs, teardown)
      }
    }
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
    if (head.length > 0) upstream.write(head)
    upstream.pipe(client)
    client.pipe(upstream)
    return Effect.sync(teardown)
  })

const open = (ctx: ProxyContext, id: number, client: Duplex, head: Buffer, authority: Authority, allowed: Allowed) => {
  const base = {
    kind: "connect" as const,
    host: hostText(authority.host),
    port: authority.port,
    decision: "allowed" as const,
    reason: allowed.reason,
    detail: allowed.detail,
    resolvedAddress: formatAddress(allowed.address)
  }
  if (client.destroyed) {
    // The client left while the name was being resolved: no dial, only the record.
    return Effect.sync(() => ctx.record(id, { ...base, upstreamError: "the client closed its connection before the tunnel opened" }))
  }
  return dial(allowed.address, authority.port, ctx.settings.connectTimeoutMs).pipe(
    Effect.matchEffect({
      onFailure: (error) =>
        Effect.zipRight(
          Effect.sync(() => ctx.record(id, { ...base, upstreamError: error.detail })),
          endWith(client, rawRefusal({ status: 502, proxyError: "connection_refused", detail: `${hostText(authority.host)}:${authority.port} could not be reached: ${error.detail}` }))
        ),
      onSuccess: (upstream) =>
        splice(ctx, client, upstream, head).pipe(
          Effect.ensuring(Effect.sync(() => {
            upstream.destroy()
            ctx.record(id, { ...base, bytesUp: upstream.bytesWritten, bytesDown: upstream.bytesRead })
          }))
        )
    })
  )
}

export const handleConnect = (
  ctx: ProxyContext,
  request: IncomingMessage,
  client: Duplex,
  head: Buffer
): Effect.Effect<void, never, Resolver> => {
  const id = ctx.nextId()
  const refuse = (r: Refused, host: string, port?: number) =>
    Effect.zipRight(
      Effect.sync(() =>
        ctx.record(id, {
          kind: "connect",
          host,
          ...(port === undefined ? {} : { port }),
          decision: "blocked",
          reason: r.reason,
          detail: r.detail,
          ...(r.resolvedAddress === undefined ? {} : { resolvedAddress: r.resolvedAddress })
        })
      ),
      // Responses still owed on this connection go first (RFC 9112 §9.3.2).
      Effect.zipRight(ctx.connections.idle(request.socket), endWith(client, rawRefusal(r)))
    )
  return Effect.gen(function*() {
    if (ctx.connections.isClosing(request.socket)) {
      return yield* Effect.sync(() => {
        notProcessed(ctx, id, request, "connect")
        client.end()
      })
    }
    const target = request.url ?? ""
    const parsed = parseAuthority(target, undefined)
    if (Either.isLeft(parsed)) {
      return yield* refuse(refused("invalid-authority", 400, "http_request_error", `CONNECT ${parsed.left.detail}`), sanitiseAuthority(target))
    }
    const authority = parsed.right
    const host = hostText(authority.host)
    if (request.httpVersionMajor !== 1) {
      return yield* refuse(refused("unsupported-request", 400, "http_request_error", `HTTP/${request.httpVersion} is not proxied; send HTTP/1.x`), host, authority.port)
    }
    const hostCheck = checkHost(request.rawHeaders, authority, 443)
    if (hostCheck._tag !== "Ok") {
      const status = hostCheck._tag === "Mismatch" ? 421 : 400
      return yield* refuse(refused(hostCheck._tag === "Mismatch" ? "host-mismatch" : "invalid-authority", status, "http_request_error", hostCheck.detail), host, authority.port)
    }
    const verdict = yield* Effect.either(decide(ctx.policy, authority, "connect"))
    if (Either.isLeft(verdict)) return yield* refuse(verdict.left, host, authority.port)
    yield* ctx.connections.idle(request.socket)
    if (!ctx.slots.take()) {
      return yield* refuse(
        refused("tunnel-limit", 503, "connection_limit_reached", `the proxy already has ${ctx.settings.maxTunnels} open tunnels`),
        host,
        authority.port
      )
    }
    return yield* open(ctx, id, client, head, authority, verdict.right).pipe(Effect.ensuring(Effect.sync(ctx.slots.give)))
  })
}

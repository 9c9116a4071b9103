/**
 * One allowed plain-HTTP exchange: the request re-sent to the checked address with framing
 * the proxy sets itself, the response streamed back, and one record when it ends — whether
 * it completed, the upstream misbehaved, the client left, or the proxy is closing.
 */
import { type ClientRequest, type IncomingMessage, request as httpRequest, type ServerResponse } from "node:http"
import type { LookupFunction } from "node:net"
import { Effect, Either } from "effect"
import { formatAddress } from "./Address.js"
import type { Allowed } from "./Decide.js"
import { type Authority, hostText } from "./Host.js"
import type { ProxyContext } from "./ProxyContext.js"
import { endToEndHeaders, type Refusal, refusalBody, refusalHeaders, upstreamRequestHeaders } from "./Wire.js"

/** The dial target is an IP literal; a lookup reaching here would be a bug, so it fails. */
const noLookup: LookupFunction = (hostname, _options, callback) =>
  callback(new Error(`egress proxy refused to look up ${hostname} a second time`), "")

/** Answers with a refusal unless a response has started, in which case the client is cut off. */
export const refuseNow = (response: ServerResponse, refusal: Refusal) => {
  if (response.headersSent) return void response.destroy()
  const body = refusalBody(refusal)
  response.writeHead(refusal.status, { ...refusalHeaders(refusal), "content-length": Buffer.byteLength(body) })
  response.end(body)
}

const badGateway = (authority: Authority, detail: string): Refusal => ({
  status: 502,
  proxyError: "http_response_incomplete",
  detail: `${hostText(authority.host)}:${authority.port}: ${detail}`
})

/**
 * The upstream request. Node's client validates method, path and headers once more;
 * whatever its parser let through but its client refuses is a malformed request, never a crash.
 */
const openUpstream = (
  ctx: ProxyContext,
  request: IncomingMessage,
  path: string,
  authority: Authority,
  allowed: Allowed
): Either.Either<ClientRequest, string> =>
  Either.try({
    try: () => {
      const upstream = httpRequest({
        host: formatAddress(allowed.address),
        family: allowed.address.family,
        port: authority.port,
        method: request.method,
        path,
        setHost: false,
        headers: upstreamRequestHeaders(request.rawHeaders, authority, request.headers["transfer-encoding"] !== undefined),
        agent: ctx.agent,
        lookup: noLookup,
        timeout: ctx.settings.idleTimeoutMs
      })
      // Every response header stays visible, so none can frame the body behind the proxy's back.
      upstream.maxHeadersCount = 0
      return upstream
    },
    catch: (error) => (error as Error).message
  })

export const relay = (
  ctx: ProxyContext,
  id: number,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  authority: Authority,
  allowed: Allowed
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const counts = { up: 0, down: 0, error: undefined as string | undefined }
    const fail = (error: string) => {
      counts.error ??= error
    }
    return Effect.async<void>((resume) => {
      const client = request.socket
      if (client.destroyed) {
        fail("the client closed its connection before the request was forwarded")
        return resume(Effect.void)
      }
      const opened = openUpstream(ctx, request, path, authority, allowed)
      if (Either.isLeft(opened)) {
        fail(opened.left)
        refuseNow(response, { status: 400, proxyError: "http_request_error", detail: `the request cannot be forwarded: ${opened.left}` })
        return resume(Effect.void)
      }
      const upstream = opened.right
      let finished = false
      const finish = () => {
        if (finished) return
        finished = true
        client.off("close", onClientClose)
        resume(Effect.void)
      }
      // A pipelined request whose response never gets the socket still ends when the client does.
      const onClientClose = () => {
        upstream.destroy()
        fail("the client connection closed before the response")
        finish()
      }
      client.on("close", onClientClose)
      upstream.on("timeout", () => upstream.destroy(new Error(`no bytes for ${ctx.settings.idleTimeoutMs} ms`)))
      upstream.on("error", (error) => {
        fail(error.message)
        refuseNow(response, badGateway(authority, `failed: ${error.message}`))
      })
      upstream.on("upgrade", (_reply, socket) => {
        socket.destroy()
        fail("the upstream switched protocols (101) unasked")
        refuseNow(response, badGateway(authority, "switched protocols unasked"))
      })
      upstream.on("close", () => {
        if (response.headersSent) return
        fail("the upstream closed without a response")
        refuseNow(response, badGateway(authority, "closed without a response"))
      })
      upstream.on("response", (reply) => {
        try {
          // Node's own reason phrase: the upstream's may hold bytes a response line must not.
          response.writeHead(reply.statusCode ?? 502, endToEndHeaders(reply.rawHeaders))
        } catch (error) {
          fail(`unusable response head: ${(error as Error).message}`)
          upstream.destroy()
          return refuseNow(response, badGateway(authority, "sent a response head that cannot be relayed"))
        }
        reply.on("data", (chunk: Buffer) => {
          counts.down += chunk.length
        })
        reply.on("error", (error) => {
          fail(`the response broke off: ${error.message}`)
          response.destroy()
        })
        reply.on("aborted", () => fail("the response broke off"))
        reply.pipe(response)
      })
      request.on("data", (chunk: Buffer) => {
        counts.up += chunk.length
      })
      request.pipe(upstream)
      response.on("close", () => {
        if (!response.writableFinished) upstream.destroy()
        // A final response before the whole request body (a 413, say): the rest must not keep
        // flowing upstream unrecorded, and the client connection cannot be reused mid-body.
        if (!request.complete) {
          upstream.destroy()
          client.destroy()
        }
        finish()
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

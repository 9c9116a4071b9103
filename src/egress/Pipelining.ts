/**
 * Requests pipelined behind a refusal that closes the connection (RFC 9112 §9.6): never
 * processed, always recorded.
 */
import type { IncomingMessage } from "node:http"
import { Either } from "effect"
import { hostText, parseAuthority } from "./Host.js"
import type { ProxyContext } from "./ProxyContext.js"
import { sanitiseAuthority, splitTarget } from "./Wire.js"

/**
 * A request pipelined behind a refusal that closes the connection is never processed (RFC
 * 9112 §9.6), but the attempt is still recorded, with the host when it can be read.
 */
export const notProcessed = (ctx: ProxyContext, id: number, request: IncomingMessage, kind: "http" | "connect") => {
  const target = request.method === "CONNECT" ? { _tag: "Absolute" as const, authority: request.url ?? "" } : splitTarget(request.url ?? "")
  const raw = target._tag === "Absolute" ? target.authority : request.headers.host ?? ""
  const parsed = parseAuthority(raw, kind === "connect" ? undefined : 80)
  ctx.record(id, {
    kind,
    ...(Either.isRight(parsed) ? { host: hostText(parsed.right.host), port: parsed.right.port } : { host: sanitiseAuthority(raw) }),
    decision: "blocked",
    reason: "unsupported-request",
    detail: "pipelined behind a refusal that closed the connection; not processed"
  })
}


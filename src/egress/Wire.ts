/**
 * The HTTP/1.1 details of proxying: request-target forms, hop-by-hop headers, the Host
 * header check, and the refusal a client receives. Pure.
 */
import { Either } from "effect"
import { type Authority, type AuthorityError, hostText, parseAuthority, sameAuthority } from "./Host.js"

export type Target =
  | { readonly _tag: "Absolute"; readonly authority: string; readonly path: string }
  | { readonly _tag: "Unsupported"; readonly detail: string }

const unsupported = (detail: string): Target => ({ _tag: "Unsupported", detail })

/** Only absolute-form `http://` targets are forwarded; https goes through CONNECT. */
export const splitTarget = (url: string): Target => {
  if (url.startsWith("/")) {
    return unsupported("origin-form request: this is a proxy, send an absolute URL (http://host/path) or use CONNECT")
  }
  if (url === "*") return unsupported("asterisk-form requests are not proxied")
  if (!/^http:\/\//i.test(url)) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]
    return unsupported(
      scheme === undefined
        ? "the request target is not an absolute http URL"
        : `the ${scheme.toLowerCase()} scheme is not forwarded; use CONNECT for https and other protocols`
    )
  }
  const rest = url.slice("http://".length)
  const end = rest.search(/[/?#]/)
  const authority = end < 0 ? rest : rest.slice(0, end)
  const tail = end < 0 ? "" : rest.slice(end)
  if (tail.includes("#")) return unsupported("a request target must not carry a fragment")
  return { _tag: "Absolute", authority, path: tail === "" ? "/" : tail.startsWith("?") ? `/${tail}` : tail }
}

/** RFC 9110 §7.6.1 plus the proxy-only headers; none of these may cross the proxy. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

/**
 * Headers the Connection header may not remove: dropping Content-Length would leave a body
 * unframed upstream (request smuggling), dropping Host would hide the authority.
 */
const PROTECTED = new Set(["content-length", "host"])

/** Header names the Connection header lists are hop-by-hop for this message too. */
const connectionNamed = (raw: ReadonlyArray<string>): Set<string> => {
  const named = new Set<string>()
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== "connection") continue
    for (const token of raw[i + 1]!.split(",")) {
      const name = token.trim().toLowerCase()
      if (!PROTECTED.has(name)) named.add(name)
    }
  }
  return named
}

/** A raw header list (name, value, name, value, …) without hop-by-hop headers and without `drop`. */
export const endToEndHeaders = (raw: ReadonlyArray<string>, drop: ReadonlyArray<string> = []): Array<string> => {
  const named = connectionNamed(raw)
  const out: Array<string> = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    if (HOP_BY_HOP.has(name) || named.has(name) || drop.includes(name)) continue
    out.push(raw[i]!, raw[i + 1]!)
  }
  return out
}

/** The Host value for an authority: the port only when it is not 80. */
export const hostHeader = (authority: Authority): string =>
  authority.port === 80 ? hostText(authority.host) : `${hostText(authority.host)}:${authority.port}`

/**
 * The upstream request's headers: Host first (some servers stop reading after many
 * headers), the end-to-end headers, and the body's framing set by the proxy itself — the
 * client's chunked body is decoded by the proxy, so it is re-chunked, never sent unframed.
 */
export const upstreamRequestHeaders = (raw: ReadonlyArray<string>, authority: Authority, chunked: boolean): Array<string> => [
  "Host",
  hostHeader(authority),
  ...endToEndHeaders(raw, ["host"]),
  ...(chunked ? ["Transfer-Encoding", "chunked"] : [])
]

/** Only `chunked` alone is a transfer coding the proxy can decode and re-frame. */
export const unsupportedTransferCoding = (value: string | undefined): string | undefined =>
  value === undefined || /^\s*chunked\s*$/i.test(value) ? undefined : value

export type HostCheck =
  | { readonly _tag: "Ok" }
  | { readonly _tag: "Invalid"; readonly detail: string }
  | { readonly _tag: "Mismatch"; readonly detail: string }

/**
 * A Host header may be absent (the target's authority is used) but never disagree with the
 * target, and never appear twice: two readers could pick different ones.
 */
export const checkHost = (raw: ReadonlyArray<string>, target: Authority, defaultPort: number): HostCheck => {
  const values: Array<string> = []
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === "host") values.push(raw[i + 1]!)
  if (values.length === 0) return { _tag: "Ok" }
  if (values.length > 1) return { _tag: "Invalid", detail: "the request carries more than one Host header" }
  const parsed: Either.Either<Authority, AuthorityError> = parseAuthority(values[0]!, defaultPort)
  if (Either.isLeft(parsed)) return { _tag: "Invalid", detail: `the Host header is invalid: ${parsed.left.detail}` }
  return sameAuthority(parsed.right, target)
    ? { _tag: "Ok" }
    : { _tag: "Mismatch", detail: "the Host header names a different authority than the request target" }
}

/**
 * A printable excerpt of an authority the proxy refused, for the record: userinfo (which
 * may hold a password) is cut off and anything outside a host's alphabet becomes `?`.
 */
export const sanitiseAuthority = (raw: string): string => {
  const excerpt = raw
    .slice(raw.lastIndexOf("@") + 1)
    .slice(0, 100)
    .replace(/[^A-Za-z0-9.\-_:[\]]/g, "?")
  return excerpt === "" ? "(empty)" : excerpt
}

export interface Refusal {
  readonly status: number
  /** An RFC 9209 Proxy-Status error type. */
  readonly proxyError: string
  readonly detail: string
}

const statusText: Readonly<Record<number, string>> = {
  400: "Bad Request",
  403: "Forbidden",
  408: "Request Timeout",
  421: "Misdirected Request",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout"
}

const sfString = (text: string) => `"${text.replace(/[^\x20-\x7e]/g, "?").replace(/["\\]/g, "\\$&")}"`

/** Headers for a refusal; the connection is always closed after one. */
export const refusalHeaders = (refusal: Refusal): Record<string, string> => ({
  "content-type": "text/plain; charset=utf-8",
  "proxy-status": `warrant; error=${refusal.proxyError}; details=${sfString(refusal.detail)}`,
  connection: "close"
})

export const refusalBody = (refusal: Refusal): string => `warrant egress: ${refusal.detail}\n`

/** A whole refusal response for a raw socket (CONNECT, or a request Node could not parse). */
export const rawRefusal = (refusal: Refusal): string => {
  const body = refusalBody(refusal)
  const headers = Object.entries({ ...refusalHeaders(refusal), "content-length": String(Buffer.byteLength(body)) })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("")
  return `HTTP/1.1 ${refusal.status} ${statusText[refusal.status] ?? "Error"}\r\n${headers}\r\n${body}`
}

/**
 * The hermetic tier's network rules, pure: whether a session gets network commands at all,
 * how a URL the interpreter asks for becomes the canonical authority the egress rules decide
 * on, and how a redirect is followed. The decisions themselves are the egress module's.
 */
import { Either } from "effect"
import { defaultPort, type Mode } from "../egress/EgressPolicy.js"
import { type Authority, parseAuthority } from "../egress/Host.js"
import { sanitiseAuthority } from "../egress/Wire.js"
import type { NetworkPolicy } from "../protocol/Network.js"

/**
 * Whether the session gets `curl` at all: not when the policy denies by default and allows
 * no host, so nothing in the interpreter can even attempt a request.
 */
export const networkEnabled = (policy: NetworkPolicy): boolean => !policy.defaultDeny || policy.allowHosts.length > 0

/** A URL the egress rules can decide on. */
export interface Target {
  readonly url: URL
  readonly authority: Authority
  /** https is decided like a CONNECT (default port 443), http like plain HTTP (80). */
  readonly mode: Mode
  readonly secure: boolean
}

/** A URL refused before any rule applies, with what the record shows as its host. */
export interface Unreadable {
  readonly host: string
  readonly reason: "invalid-authority" | "unsupported-request"
  readonly detail: string
}

const unreadable = (host: string, reason: Unreadable["reason"], detail: string) =>
  Either.left<Unreadable>({ host: sanitiseAuthority(host), reason, detail })

/**
 * Parsed as WHATWG URLs are (so the host is already IDNA-mapped and an IPv4 literal in any
 * spelling is dotted decimal), then canonicalised by the same `parseAuthority` the proxy uses.
 */
export const parseTarget = (raw: string): Either.Either<Target, Unreadable> => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return unreadable(raw.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split(/[/?#]/)[0] ?? "", "invalid-authority", "the URL cannot be parsed")
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return unreadable(url.host, "unsupported-request", `the ${url.protocol.slice(0, -1)} scheme is not supported; only http and https are`)
  }
  if (url.username !== "" || url.password !== "") {
    return unreadable(url.host, "invalid-authority", "userinfo (user@host) is not allowed in a URL")
  }
  const secure = url.protocol === "https:"
  const mode: Mode = secure ? "connect" : "http"
  return Either.match(parseAuthority(url.host, defaultPort(mode)), {
    onLeft: (error) => unreadable(url.host, "invalid-authority", error.detail),
    onRight: (authority) => Either.right({ url, authority, mode, secure })
  })
}

export const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308])

/** As browsers and curl -L do: a 303, and a 301 or 302 after a POST, become a GET without a body. */
export const redirectMethod = (status: number, method: string): { readonly method: string; readonly keepBody: boolean } =>
  (status === 303 && method !== "HEAD") || ((status === 301 || status === 302) && method === "POST")
    ? { method: "GET", keepBody: false }
    : { method, keepBody: true }

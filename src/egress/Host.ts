/**
 * The canonical host and port a client asked for. Every spelling of one destination —
 * case, a trailing dot, Unicode (IDNA), IPv4 in decimal, octal, hex or short form, IPv4
 * inside IPv6 — becomes one value, and ambiguous authorities (userinfo, percent-encoding,
 * controls, whitespace) are refused rather than guessed at. Pure.
 */
import { domainToASCII } from "node:url"
import { Either, Option } from "effect"
import { type Address, formatAddress, ipv4FromNumber, parseIPv6 } from "./Address.js"
import { canonicalAddress } from "./Ranges.js"

export type Host =
  | { readonly _tag: "Name"; readonly name: string }
  | { readonly _tag: "Ip"; readonly address: Address }

export interface Authority {
  readonly host: Host
  readonly port: number
}

export type AuthorityProblem =
  | "empty"
  | "too-long"
  | "userinfo"
  | "percent-encoding"
  | "control-or-space"
  | "forbidden-character"
  | "bad-ipv4"
  | "bad-ipv6"
  | "bad-name"
  | "bad-port"
  | "missing-port"

export interface AuthorityError {
  readonly problem: AuthorityProblem
  readonly detail: string
}

const fail = (problem: AuthorityProblem, detail: string) => Either.left<AuthorityError>({ problem, detail })

const MAX_AUTHORITY = 300
const MAX_NAME = 253

// Unicode whitespace, C0/C1 controls and invisible format characters (zero-width joiners,
// bidi overrides): none belongs in a host, and each can make two hosts look alike.
const controlOrSpace = /[\s\p{Cc}\p{Cf}]/u
const allowedAscii = /^[A-Za-z0-9._-]$/

/** WHATWG's "ends in a number": such a host is an IPv4 address or invalid, never a name. */
const endsInNumber = (host: string): boolean => {
  const labels = host.split(".")
  if (labels[labels.length - 1] === "" && labels.length > 1) labels.pop()
  const last = labels[labels.length - 1] ?? ""
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last)
}

const numberOf = (part: string): number | undefined => {
  if (/^0x[0-9a-f]*$/i.test(part)) return part.length === 2 ? 0 : parseInt(part.slice(2), 16)
  if (/^0[0-7]+$/.test(part)) return parseInt(part.slice(1), 8)
  if (/^(0|[1-9][0-9]*)$/.test(part)) return Number(part)
  return undefined
}

/**
 * IPv4 the way `inet_aton` and browsers read it: one to four parts, each decimal, octal
 * (leading 0) or hex (0x); the last part fills the remaining bytes (`127.1`, `2130706433`).
 */
export const parseIPv4Loose = (text: string): Option.Option<Address> => {
  const parts = text.split(".")
  if (parts[parts.length - 1] === "" && parts.length > 1) parts.pop()
  if (parts.length > 4 || parts.some((part) => part.length === 0)) return Option.none()
  const numbers: Array<number> = []
  for (const part of parts) {
    const value = numberOf(part)
    if (value === undefined) return Option.none()
    numbers.push(value)
  }
  const last = numbers.pop()!
  if (numbers.some((n) => n > 255) || last >= 256 ** (4 - numbers.length)) return Option.none()
  const value = numbers.reduce((acc, n, i) => acc + n * 256 ** (3 - i), 0) + last
  return Option.some(ipv4FromNumber(value))
}

/**
 * What is wrong with a host's characters, most specific first, so `user:pw@host` is reported
 * as userinfo and `a\r\n` as a control character whatever else they contain.
 */
const firstProblem = (raw: string): AuthorityError | undefined => {
  if (controlOrSpace.test(raw)) return { problem: "control-or-space", detail: "the host contains a control, format or whitespace character" }
  if (raw.includes("%")) return { problem: "percent-encoding", detail: "percent-encoding is not allowed in a host" }
  if (raw.includes("@")) return { problem: "userinfo", detail: "userinfo (user@host) is not allowed in an authority" }
  for (const char of raw) {
    if (char.charCodeAt(0) < 0x80 && !allowedAscii.test(char)) {
      return { problem: "forbidden-character", detail: `the host contains the forbidden character ${JSON.stringify(char)}` }
    }
  }
  return undefined
}

/** Already canonical-looking ASCII: no IDNA work to do unless a label is punycode. */
const plainAscii = /^[a-z0-9._-]+$/

const canonicalName = (raw: string): Either.Either<Host, AuthorityError> => {
  const lower = raw.toLowerCase()
  // The common case skips the per-character scan and IDNA: only [a-z0-9._-], no punycode.
  if (plainAscii.test(lower) && !lower.includes("xn--")) return nameOrAddress(lower)
  const problem = firstProblem(raw)
  if (problem !== undefined) return Either.left(problem)
  // IDNA (UTS 46) maps Unicode case, full-width digits and dots, then encodes to punycode.
  const ascii = domainToASCII(lower)
  if (ascii === "") {
    // IDNA also rejects a host that ends in a number but is no IPv4 address (full-width digits).
    return endsInNumber(lower.normalize("NFKC").replace(/[\u3002\uff0e\uff61]/g, "."))
      ? fail("bad-ipv4", "the host ends in a number but is not a valid IPv4 address")
      : fail("bad-name", "the host is not a valid IDNA domain name")
  }
  return nameOrAddress(ascii)
}

/** After IDNA: one trailing dot dropped, then an IPv4 address in any spelling, or a name. */
const nameOrAddress = (ascii: string): Either.Either<Host, AuthorityError> => {
  const host = ascii.endsWith(".") ? ascii.slice(0, -1) : ascii
  if (endsInNumber(host)) {
    return Option.match(parseIPv4Loose(host), {
      onNone: () => fail("bad-ipv4", "the host ends in a number but is not a valid IPv4 address"),
      onSome: (address) => Either.right<Host>({ _tag: "Ip", address })
    })
  }
  if (host.length > MAX_NAME) return fail("bad-name", `the host is longer than ${MAX_NAME} characters`)
  const labels = host.split(".")
  if (labels.some((label) => !/^[a-z0-9_-]{1,63}$/.test(label))) {
    return fail("bad-name", "each label of a host must be 1–63 letters, digits, '-' or '_'")
  }
  return Either.right({ _tag: "Name", name: host })
}

/** A host as it appears in an authority: a name, an IPv4 literal, or a bracketed IPv6 literal. */
export const canonicalHost = (raw: string): Either.Either<Host, AuthorityError> => {
  if (raw.length === 0) return fail("empty", "the host is empty")
  if (raw.length > MAX_AUTHORITY) return fail("too-long", `the host is longer than ${MAX_AUTHORITY} characters`)
  if (raw.startsWith("[")) {
    if (raw.includes("%")) return fail("percent-encoding", "IPv6 zone identifiers and percent-encoding are not allowed")
    const inner = raw.endsWith("]") ? parseIPv6(raw.slice(1, -1)) : Option.none()
    return Option.match(inner, {
      onNone: () => fail("bad-ipv6", "the bracketed host is not a valid IPv6 address"),
      onSome: (address) => Either.right<Host>({ _tag: "Ip", address: canonicalAddress(address) })
    })
  }
  const problem = firstProblem(raw.replaceAll(":", ""))
  if (problem !== undefined) return Either.left(problem)
  if (raw.includes(":")) return fail("bad-ipv6", "an IPv6 host must be written in brackets, e.g. [2001:db8::1]")
  return canonicalName(raw)
}

/**
 * `host[:port]`. `defaultPort` applies when the port is absent; without one a port is
 * required (CONNECT's authority-form).
 */
export const parseAuthority = (
  raw: string,
  defaultPort: number | undefined
): Either.Either<Authority, AuthorityError> => {
  if (raw.length > MAX_AUTHORITY) return fail("too-long", `the authority is longer than ${MAX_AUTHORITY} characters`)
  if (raw.includes("@")) return fail("userinfo", "userinfo (user@host) is not allowed in an authority")
  let hostPart = raw
  let portPart: string | undefined
  if (raw.startsWith("[")) {
    const close = raw.indexOf("]")
    if (close >= 0 && close < raw.length - 1) {
      if (raw[close + 1] !== ":") return fail("bad-ipv6", "unexpected text after the bracketed IPv6 host")
      hostPart = raw.slice(0, close + 1)
      portPart = raw.slice(close + 2)
    }
  } else {
    const colon = raw.indexOf(":")
    if (colon >= 0 && raw.indexOf(":", colon + 1) < 0) {
      hostPart = raw.slice(0, colon)
      portPart = raw.slice(colon + 1)
    }
  }
  return Either.flatMap(canonicalHost(hostPart), (host) => {
    if (portPart === undefined || portPart === "") {
      return defaultPort === undefined
        ? fail("missing-port", "the authority needs an explicit port, e.g. example.com:443")
        : Either.right({ host, port: defaultPort })
    }
    const port = /^[0-9]{1,5}$/.test(portPart) ? Number(portPart) : 0
    if (port < 1 || port > 65535) return fail("bad-port", "the port must be a number from 1 to 65535")
    return Either.right({ host, port })
  })
}

export const hostText = (host: Host): string => {
  if (host._tag === "Name") return host.name
  const text = formatAddress(host.address)
  return host.address.family === 6 ? `[${text}]` : text
}

export const authorityText = (authority: Authority): string => `${hostText(authority.host)}:${authority.port}`

export const sameHost = (a: Host, b: Host): boolean =>
  a._tag === "Name"
    ? b._tag === "Name" && a.name === b.name
    : b._tag === "Ip" && a.address.family === b.address.family && a.address.bytes.every((byte, i) => byte === b.address.bytes[i])

export const sameAuthority = (a: Authority, b: Authority): boolean => a.port === b.port && sameHost(a.host, b.host)

/**
 * IP addresses as bytes: strict text parsing, RFC 5952 formatting and CIDR containment.
 * Pure; the egress proxy compares bytes, never address strings.
 */
import { Option } from "effect"

export interface Address {
  readonly family: 4 | 6
  /** 4 bytes for IPv4, 16 for IPv6, network order. */
  readonly bytes: Uint8Array
}

export interface Cidr {
  readonly address: Address
  readonly prefix: number
}

export const ipv4 = (a: number, b: number, c: number, d: number): Address => ({
  family: 4,
  bytes: Uint8Array.of(a, b, c, d)
})

export const ipv4FromNumber = (n: number): Address =>
  ipv4((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)

/** Strict dotted-quad: four decimal parts 0–255 without leading zeros. */
export const parseIPv4 = (text: string): Option.Option<Address> => {
  const parts = text.split(".")
  if (parts.length !== 4) return Option.none()
  const bytes = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return Option.none()
    const value = Number(part)
    if (value > 255) return Option.none()
    bytes[i] = value
  }
  return Option.some({ family: 4, bytes })
}

const hexGroup = /^[0-9a-fA-F]{1,4}$/

/** RFC 4291 text form, with an optional trailing dotted quad; no zone identifiers. */
export const parseIPv6 = (text: string): Option.Option<Address> => {
  if (text.length === 0 || text.length > 45) return Option.none()
  const halves = text.split("::")
  if (halves.length > 2) return Option.none()
  const groupsOf = (half: string): Array<string> | undefined => (half === "" ? [] : half.split(":"))
  const head = groupsOf(halves[0]!)
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : []
  if (head === undefined || tail === undefined) return Option.none()
  const all = [...head, ...tail]
  // A dotted quad may only end the address.
  const last = all[all.length - 1]
  let embedded: Address | undefined
  if (last !== undefined && last.includes(".")) {
    // "1.2.3.4::" puts the quad before the gap, not at the end.
    if (halves.length === 2 && tail.length === 0) return Option.none()
    const v4 = parseIPv4(last)
    if (Option.isNone(v4)) return Option.none()
    embedded = v4.value
    if (tail.length > 0) tail.pop()
    else head.pop()
  }
  const wordsIn = (groups: Array<string>): Array<number> | undefined => {
    const out: Array<number> = []
    for (const group of groups) {
      if (!hexGroup.test(group)) return undefined
      out.push(parseInt(group, 16))
    }
    return out
  }
  const headWords = wordsIn(head)
  const tailWords = wordsIn(tail)
  if (headWords === undefined || tailWords === undefined) return Option.none()
  const given = headWords.length + tailWords.length + (embedded ? 2 : 0)
  if (halves.length === 1 ? given !== 8 : given > 7) return Option.none()
  const words = [...headWords, ...new Array<number>(8 - given).fill(0), ...tailWords]
  const bytes = new Uint8Array(16)
  words.forEach((word, i) => {
    bytes[i * 2] = word >> 8
    bytes[i * 2 + 1] = word & 0xff
  })
  if (embedded) bytes.set(embedded.bytes, 12)
  return Option.some({ family: 6, bytes })
}

/** Either family, strict; IPv6 without brackets. */
export const parseAddress = (text: string): Option.Option<Address> =>
  text.includes(":") ? parseIPv6(text) : parseIPv4(text)

export const formatIPv4 = (bytes: Uint8Array): string => `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`

/** RFC 5952: lower case, the longest run of two or more zero groups compressed (leftmost on a tie). */
export const formatIPv6 = (bytes: Uint8Array): string => {
  const words = Array.from({ length: 8 }, (_, i) => (bytes[i * 2]! << 8) | bytes[i * 2 + 1]!)
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = (ws: Array<number>) => ws.map((w) => w.toString(16)).join(":")
  if (bestStart < 0) return hex(words)
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`
}

export const formatAddress = (address: Address): string =>
  address.family === 4 ? formatIPv4(address.bytes) : formatIPv6(address.bytes)

export const equals = (a: Address, b: Address): boolean =>
  a.family === b.family && a.bytes.every((byte, i) => byte === b.bytes[i])

/** `addr` or `addr/prefix`, strict text; a bare address is a single-address block. */
export const parseCidr = (text: string): Option.Option<Cidr> => {
  const slash = text.indexOf("/")
  const addressText = slash < 0 ? text : text.slice(0, slash)
  return Option.flatMap(parseAddress(addressText), (address) => {
    const max = address.family === 4 ? 32 : 128
    if (slash < 0) return Option.some({ address, prefix: max })
    const prefixText = text.slice(slash + 1)
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return Option.none()
    const prefix = Number(prefixText)
    return prefix <= max ? Option.some({ address, prefix }) : Option.none()
  })
}

export const formatCidr = (cidr: Cidr): string => `${formatAddress(cidr.address)}/${cidr.prefix}`

export const contains = (cidr: Cidr, address: Address): boolean => {
  if (cidr.address.family !== address.family) return false
  const full = cidr.prefix >> 3
  for (let i = 0; i < full; i++) if (cidr.address.bytes[i] !== address.bytes[i]) return false
  const rest = cidr.prefix & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (cidr.address.bytes[full]! & mask) === (address.bytes[full]! & mask)
}

/** A CIDR literal known to be valid, for the tables in this folder. */
export const cidr = (text: string): Cidr =>
  Option.getOrThrowWith(parseCidr(text), () => new Error(`invalid CIDR literal in source: ${text}`))

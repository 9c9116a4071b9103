/**
 * The special-purpose address ranges the egress proxy refuses to dial, and the IPv6 forms
 * that carry an IPv4 address inside them (mapped, compatible, NAT64, 6to4, Teredo), so a
 * private IPv4 target cannot be smuggled through an IPv6 spelling.
 */
import { Option } from "effect"
import { type Address, type Cidr, cidr, contains, formatCidr, ipv4 } from "./Address.js"

export type RangeKind =
  | "metadata"
  | "loopback"
  | "private"
  | "link-local"
  | "site-local"
  | "shared"
  | "multicast"
  | "unspecified"
  | "broadcast"
  | "unique-local"
  | "documentation"
  | "reserved"

export type Embedding = "ipv4-mapped" | "ipv4-compatible" | "ipv4-translated" | "nat64" | "6to4" | "teredo"

export interface Refusal {
  readonly kind: RangeKind
  /** The refused block, e.g. `127.0.0.0/8`. */
  readonly range: string
  /** Set when the refused IPv4 address sat inside an IPv6 one. */
  readonly embeddedIn?: Embedding
}

interface Row {
  readonly block: Cidr
  readonly kind: RangeKind
}

const row = (text: string, kind: RangeKind): Row => ({ block: cidr(text), kind })

/** First match wins: metadata before link-local, broadcast before reserved. */
const table: ReadonlyArray<Row> = [
  row("169.254.169.254/32", "metadata"), // AWS, GCP, Azure IMDS, OpenStack
  row("169.254.170.2/32", "metadata"), // AWS ECS task credentials
  row("169.254.170.23/32", "metadata"), // AWS EKS Pod Identity credentials
  row("100.100.100.200/32", "metadata"), // Alibaba Cloud
  row("168.63.129.16/32", "metadata"), // Azure wire server, a public-looking address
  row("192.0.0.192/32", "metadata"), // Oracle Cloud
  row("fd00:ec2::254/128", "metadata"), // AWS IMDS over IPv6
  row("fd00:ec2::23/128", "metadata"), // AWS EKS Pod Identity over IPv6
  row("fd20:ce::254/128", "metadata"), // GCP metadata over IPv6
  row("0.0.0.0/8", "unspecified"),
  row("10.0.0.0/8", "private"),
  row("100.64.0.0/10", "shared"),
  row("127.0.0.0/8", "loopback"),
  row("169.254.0.0/16", "link-local"),
  row("172.16.0.0/12", "private"),
  row("192.0.0.0/24", "reserved"),
  row("192.0.2.0/24", "documentation"),
  row("192.88.99.0/24", "reserved"),
  row("192.168.0.0/16", "private"),
  row("198.18.0.0/15", "reserved"),
  row("198.51.100.0/24", "documentation"),
  row("203.0.113.0/24", "documentation"),
  row("224.0.0.0/4", "multicast"),
  row("255.255.255.255/32", "broadcast"),
  row("240.0.0.0/4", "reserved"),
  row("::/128", "unspecified"),
  row("::1/128", "loopback"),
  row("100::/64", "reserved"),
  row("2001:db8::/32", "documentation"),
  row("64:ff9b:1::/48", "private"),
  row("fc00::/7", "unique-local"),
  row("fe80::/10", "link-local"),
  row("fec0::/10", "site-local"),
  row("ff00::/8", "multicast")
]

const fromBytes = (bytes: Uint8Array, xor = 0): Address =>
  ipv4(bytes[0]! ^ xor, bytes[1]! ^ xor, bytes[2]! ^ xor, bytes[3]! ^ xor)

const embeddings: ReadonlyArray<{
  readonly block: Cidr
  readonly via: Embedding
  readonly extract: (bytes: Uint8Array) => ReadonlyArray<Address>
}> = [
  { block: cidr("::ffff:0:0/96"), via: "ipv4-mapped", extract: (b) => [fromBytes(b.subarray(12))] },
  // `::` and `::1` are the IPv6 unspecified and loopback addresses, not compatible forms.
  {
    block: cidr("::/96"),
    via: "ipv4-compatible",
    extract: (b) => (b[12]! | b[13]! | b[14]! | (b[15]! & 0xfe)) === 0 ? [] : [fromBytes(b.subarray(12))]
  },
  { block: cidr("::ffff:0:0:0/96"), via: "ipv4-translated", extract: (b) => [fromBytes(b.subarray(12))] },
  { block: cidr("64:ff9b::/96"), via: "nat64", extract: (b) => [fromBytes(b.subarray(12))] },
  { block: cidr("2002::/16"), via: "6to4", extract: (b) => [fromBytes(b.subarray(2))] },
  // Teredo carries the server address in the clear and the client address inverted.
  { block: cidr("2001::/32"), via: "teredo", extract: (b) => [fromBytes(b.subarray(4)), fromBytes(b.subarray(12), 0xff)] }
]

const lookup = (address: Address): Option.Option<Refusal> => {
  for (const { block, kind } of table) {
    if (contains(block, address)) return Option.some({ kind, range: formatCidr(block) })
  }
  return Option.none()
}

/** The IPv4 addresses an IPv6 address carries, with how it carries them. */
export const embeddedIPv4 = (address: Address): ReadonlyArray<{ readonly via: Embedding; readonly address: Address }> => {
  if (address.family !== 6) return []
  for (const { block, extract, via } of embeddings) {
    if (contains(block, address)) return extract(address.bytes).map((inner) => ({ via, address: inner }))
  }
  return []
}

/** Why an address must not be dialled, or none when it is an ordinary public address. */
export const classify = (address: Address): Option.Option<Refusal> => {
  const own = lookup(address)
  if (Option.isSome(own)) return own
  for (const { via, address: inner } of embeddedIPv4(address)) {
    const refusal = lookup(inner)
    if (Option.isSome(refusal)) return Option.some({ ...refusal.value, embeddedIn: via })
  }
  return Option.none()
}

/**
 * The address a connection to `address` really reaches on this host: IPv4-mapped and
 * IPv4-compatible IPv6 addresses are their IPv4 address. Other embeddings stay IPv6,
 * because a NAT64 or 6to4 gateway, not this host, reaches the inner address.
 */
export const canonicalAddress = (address: Address): Address => {
  for (const { via, address: inner } of embeddedIPv4(address)) {
    if (via === "ipv4-mapped" || via === "ipv4-compatible") return inner
  }
  return address
}

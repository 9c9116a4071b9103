/**
 * A `NetworkPolicy` compiled for the proxy: allowlist entries canonicalised like requests
 * are, and the two questions the proxy asks — may this host and port be requested, and may
 * these resolved addresses be dialled. Pure.
 */
import { Data, Either, Option } from "effect"
import type { NetworkPolicy } from "../protocol/Network.js"
import { type Address, type Cidr, contains, parseCidr } from "./Address.js"
import { type Authority, type Host, hostText, parseAuthority } from "./Host.js"
import { canonicalAddress, classify, type Refusal } from "./Ranges.js"

export class InvalidEgressPolicy extends Data.TaggedError("InvalidEgressPolicy")<{
  readonly field: "allowHosts" | "allowAddresses"
  readonly entry: string
  readonly reason: string
}> {
  override get message() {
    return `invalid ${this.field} entry ${JSON.stringify(this.entry)}: ${this.reason}`
  }
}

export interface HostRule {
  /** The entry as the policy wrote it. */
  readonly source: string
  /** Canonical host text; for a wildcard, the domain under the `*.`. */
  readonly host: string
  readonly wildcard: boolean
  /** Undefined: 443 for CONNECT and 80 for plain HTTP. */
  readonly port: number | undefined
}

export interface EgressPolicy {
  readonly defaultDeny: boolean
  readonly rules: ReadonlyArray<HostRule>
  readonly allowAddresses: ReadonlyArray<Cidr>
}

/** CONNECT tunnels or absolute-form plain HTTP requests. */
export type Mode = "connect" | "http"

export const defaultPort = (mode: Mode): number => (mode === "connect" ? 443 : 80)

const NO_PORT = 0

const compileHost = (entry: string): Either.Either<HostRule, InvalidEgressPolicy> => {
  const invalid = (reason: string) => new InvalidEgressPolicy({ field: "allowHosts", entry, reason })
  const wildcard = entry.startsWith("*.")
  const rest = wildcard ? entry.slice(2) : entry
  if (rest.includes("*")) return Either.left(invalid("a wildcard may only be a leading '*.' label, as in *.example.com"))
  return Either.mapLeft(parseAuthority(rest, NO_PORT), (error) => invalid(error.detail)).pipe(
    Either.flatMap(({ host, port }): Either.Either<HostRule, InvalidEgressPolicy> => {
      if (wildcard && host._tag === "Ip") return Either.left(invalid("a wildcard cannot cover an IP address"))
      if (wildcard && !hostText(host).includes(".")) {
        return Either.left(invalid("a wildcard over a single label (a whole top-level domain) is too broad"))
      }
      return Either.right({ source: entry, host: hostText(host), wildcard, port: port === NO_PORT ? undefined : port })
    })
  )
}

const compileAddress = (entry: string): Either.Either<Cidr, InvalidEgressPolicy> => {
  const invalid = (reason: string) => new InvalidEgressPolicy({ field: "allowAddresses", entry, reason })
  const text = entry.replace(/^\[([^\]]*)\]/, "$1")
  return Option.match(parseCidr(text), {
    onNone: () => Either.left(invalid("expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8")),
    onSome: (block) => {
      const address = canonicalAddress(block.address)
      const prefix = address.family === block.address.family ? block.prefix : Math.max(0, block.prefix - 96)
      const normal = { address, prefix }
      if (block.address.family === 6 && address.family === 4 && block.prefix < 96) {
        return Either.left(invalid("an IPv4-mapped block must have a prefix of at least 96"))
      }
      if (!hostBitsClear(normal)) {
        return Either.left(invalid(`host bits are set beyond /${normal.prefix}; write the network address of the block`))
      }
      return Either.right(normal)
    }
  })
}

const hostBitsClear = ({ address, prefix }: Cidr): boolean =>
  address.bytes.every((byte, i) => {
    const kept = Math.min(8, Math.max(0, prefix - i * 8))
    return (byte & (0xff >> kept)) === 0
  })

export const compile = (policy: NetworkPolicy): Either.Either<EgressPolicy, InvalidEgressPolicy> =>
  Either.all({
    rules: Either.all(policy.allowHosts.map(compileHost)),
    allowAddresses: Either.all((policy.allowAddresses ?? []).map(compileAddress))
  }).pipe(Either.map(({ allowAddresses, rules }) => ({ defaultDeny: policy.defaultDeny, rules, allowAddresses })))

export type HostVerdict =
  | { readonly allowed: true; readonly reason: "allowlisted" | "default-allow"; readonly rule?: string }
  | { readonly allowed: false; readonly reason: "not-allowlisted" | "port-not-allowed"; readonly detail: string }

const matches = (rule: HostRule, host: Host): boolean => {
  const text = hostText(host)
  if (!rule.wildcard) return text === rule.host
  return host._tag === "Name" && text.endsWith(`.${rule.host}`)
}

/** May a client ask for this host and port? Says nothing yet about where it resolves. */
export const decideHost = (policy: EgressPolicy, authority: Authority, mode: Mode): HostVerdict => {
  if (!policy.defaultDeny) return { allowed: true, reason: "default-allow" }
  const named = policy.rules.filter((rule) => matches(rule, authority.host))
  if (named.length === 0) {
    return { allowed: false, reason: "not-allowlisted", detail: `${hostText(authority.host)} is not in the allowlist` }
  }
  const rule = named.find((r) => (r.port ?? defaultPort(mode)) === authority.port)
  if (rule === undefined) {
    const ports = named.map((r) => r.port ?? defaultPort(mode)).join(", ")
    return {
      allowed: false,
      reason: "port-not-allowed",
      detail: `port ${authority.port} is not allowed for ${hostText(authority.host)} (allowed: ${ports})`
    }
  }
  return { allowed: true, reason: "allowlisted", rule: rule.source }
}

export type AddressVerdict =
  | { readonly allowed: true; readonly address: Address; readonly explicit: boolean }
  | { readonly allowed: false; readonly address: Address; readonly refusal: Refusal }

/**
 * May this resolved address be dialled? Special-purpose ranges are refused unless
 * `allowAddresses` covers them (a metadata address only when listed exactly); with
 * `defaultDeny: false` only metadata addresses are.
 */
export const decideAddress = (policy: EgressPolicy, resolved: Address): AddressVerdict => {
  const address = canonicalAddress(resolved)
  const refusal = classify(address)
  // A metadata address is only unlocked by naming that one address: a broad block such as
  // 169.254.0.0/16 written for link-local services must not hand out cloud credentials.
  const listed = policy.allowAddresses.some((block) =>
    contains(block, address) &&
    (Option.isNone(refusal) || refusal.value.kind !== "metadata" || block.prefix === (address.family === 4 ? 32 : 128))
  )
  if (listed) return { allowed: true, address, explicit: true }
  if (Option.isNone(refusal)) return { allowed: true, address, explicit: false }
  if (!policy.defaultDeny && refusal.value.kind !== "metadata") return { allowed: true, address, explicit: false }
  return { allowed: false, address, refusal: refusal.value }
}

/** Every answer must be allowed, so a mixed answer cannot steer the dial to a refused one. */
export const decideAddresses = (
  policy: EgressPolicy,
  addresses: readonly [Address, ...Array<Address>]
): Either.Either<Address, Extract<AddressVerdict, { allowed: false }>> => {
  const verdicts = addresses.map((address) => decideAddress(policy, address))
  const refused = verdicts.find((verdict) => !verdict.allowed)
  return refused !== undefined && !refused.allowed ? Either.left(refused) : Either.right(verdicts[0]!.address)
}

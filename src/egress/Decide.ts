/**
 * The proxy's decision for one authority: host policy first, then one resolution, then
 * every resolved address checked; the result names the single address to dial, so nothing
 * after this point looks a name up again.
 */
import { Effect, Either } from "effect"
import { type Address, formatAddress } from "./Address.js"
import type { EgressReason } from "./EgressDecision.js"
import { decideAddresses, decideHost, type EgressPolicy, type HostVerdict, type Mode } from "./EgressPolicy.js"
import { type Authority, hostText } from "./Host.js"
import { type Answer, Resolver } from "./Resolver.js"
import type { Refusal } from "./Wire.js"

export interface Allowed {
  readonly reason: "allowlisted" | "default-allow"
  readonly detail: string
  readonly address: Address
}

export interface Refused extends Refusal {
  readonly reason: EgressReason
  readonly resolvedAddress?: string
}

export const refused = (
  reason: EgressReason,
  status: number,
  proxyError: string,
  detail: string,
  resolvedAddress?: string
): Refused => (resolvedAddress === undefined
  ? { reason, status, proxyError, detail }
  : { reason, status, proxyError, detail, resolvedAddress })

const resolve = (name: string): Effect.Effect<Answer, Refused, Resolver> =>
  Effect.flatMap(Resolver, (resolver) => resolver.resolve(name)).pipe(
    Effect.mapError((error) =>
      refused(
        "dns-failed",
        error.reason === "timeout" ? 504 : 502,
        error.reason === "not-found" ? "destination_not_found" : error.reason === "timeout" ? "dns_timeout" : "dns_error",
        error.detail
      )
    )
  )

const checkAddresses = (
  policy: EgressPolicy,
  authority: Authority,
  hostVerdict: Extract<HostVerdict, { allowed: true }>,
  addresses: Answer
): Either.Either<Allowed, Refused> => {
  const verdict = decideAddresses(policy, addresses)
  if (Either.isLeft(verdict)) {
    const { address, refusal } = verdict.left
    const text = formatAddress(address)
    const via = refusal.embeddedIn === undefined ? "" : ` (inside an ${refusal.embeddedIn} IPv6 address)`
    return Either.left(refused(
      "address-refused",
      403,
      "destination_ip_prohibited",
      `${hostText(authority.host)} resolves to ${text}, ${/^[aeiou]/.test(refusal.kind) ? "an" : "a"} ${refusal.kind} address in ${refusal.range}${via}; ` +
        `list it in allowAddresses to allow it`,
      text
    ))
  }
  const rule = hostVerdict.reason === "allowlisted" && hostVerdict.rule !== undefined
    ? `matched ${JSON.stringify(hostVerdict.rule)}`
    : "default allow"
  return Either.right({ reason: hostVerdict.reason, detail: `${rule}, dialling ${formatAddress(verdict.right)}`, address: verdict.right })
}

/** Plain functions until a name must be resolved: an IP literal never suspends. */
export const decide = (
  policy: EgressPolicy,
  authority: Authority,
  mode: Mode
): Effect.Effect<Allowed, Refused, Resolver> => {
  const host = decideHost(policy, authority, mode)
  if (!host.allowed) return Effect.fail(refused(host.reason, 403, "http_request_denied", host.detail))
  const target = authority.host
  return target._tag === "Ip"
    ? checkAddresses(policy, authority, host, [target.address])
    : Effect.flatMap(resolve(target.name), (answer) => checkAddresses(policy, authority, host, answer))
}

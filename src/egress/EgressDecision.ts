/**
 * One record per request the proxy saw: where it asked to go, what the proxy decided and
 * why, and for an allowed connection the address dialled and the bytes each way. The
 * runner turns these into `network.connected` events.
 */
import { Schema } from "effect"
import { NetworkDecision } from "../protocol/Event.js"
import { NonNegativeInt } from "../protocol/Ids.js"

export const EgressReason = Schema.Literal(
  /** Allowed: an allowlist entry matched and every resolved address may be dialled. */
  "allowlisted",
  /** Allowed: the policy is `defaultDeny: false` and the address is not a metadata address. */
  "default-allow",
  "not-allowlisted",
  "port-not-allowed",
  /** A resolved (or literal) address is loopback, private, metadata, … and not in `allowAddresses`. */
  "address-refused",
  "dns-failed",
  "invalid-authority",
  "host-mismatch",
  /** Origin-form, a scheme other than http, or an Upgrade: the proxy only tunnels and forwards. */
  "unsupported-request",
  "tunnel-limit"
)
export type EgressReason = typeof EgressReason.Type

export const EgressDecision = Schema.Struct({
  /** Per proxy, in the order requests arrived. */
  id: NonNegativeInt,
  kind: Schema.Literal("connect", "http"),
  /** Canonical host; for an authority the proxy could not read, a sanitised excerpt. */
  host: Schema.String,
  port: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(1, 65535))),
  decision: NetworkDecision,
  reason: EgressReason,
  /** A sentence for a person: which rule matched, which range refused the address. */
  detail: Schema.String,
  resolvedAddress: Schema.optional(Schema.String),
  bytesUp: Schema.optional(NonNegativeInt),
  bytesDown: Schema.optional(NonNegativeInt),
  /** Allowed, but the dial or the transfer failed. */
  upstreamError: Schema.optional(Schema.String)
})
export type EgressDecision = typeof EgressDecision.Type

/**
 * A network policy as contracts and policies carry it. Host spelling is only bounded
 * here; the egress proxy canonicalises and decides.
 */
import { Schema } from "effect"

const HostEntry = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(260),
  Schema.pattern(/^[^\s\u0000-\u001f\u007f]+$/, { message: () => "expected a host entry without whitespace or control characters" })
)

export const NetworkPolicy = Schema.Struct({
  defaultDeny: Schema.Boolean,
  /** Exact hosts or `*.domain` wildcards, optionally with `:port`. */
  allowHosts: Schema.Array(HostEntry),
  /** Addresses or CIDRs the proxy may dial although they are private or local. */
  allowAddresses: Schema.optional(Schema.Array(HostEntry))
})
export type NetworkPolicy = typeof NetworkPolicy.Type

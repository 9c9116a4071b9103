/**
 * A receipt bundle: everything needed to check a run offline — the contract, the
 * event chain, the receipt and the public keys that signed them.
 */
import { Schema } from "effect"
import { versionedDecoder, versionField } from "./Decode.js"
import { Contract } from "./Contract.js"
import { ChainEntry } from "./Event.js"
import { Receipt } from "./Receipt.js"
import { PublicKeyRecord } from "./Signature.js"

export const Bundle = Schema.Struct({
  version: versionField("bundle"),
  contract: Contract,
  events: Schema.Array(ChainEntry),
  receipt: Receipt,
  keys: Schema.Array(PublicKeyRecord)
})
export type Bundle = typeof Bundle.Type
export type BundleEncoded = typeof Bundle.Encoded

export const decodeBundle = versionedDecoder("bundle", Bundle)

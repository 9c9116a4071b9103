/**
 * A detached ed25519 signature as it travels inside contracts and receipts, and the
 * public keys a bundle carries so it can be checked offline.
 */
import { Schema } from "effect"
import { KeyId, PublicKeyHex, SignatureHex } from "./Ids.js"

/** What a signature vouches for: issuing a contract, running it, or accepting its receipt. */
export const SignerRole = Schema.Literal("issuer", "runner", "plane")
export type SignerRole = typeof SignerRole.Type

export const Signature = Schema.Struct({
  alg: Schema.Literal("ed25519"),
  role: SignerRole,
  keyId: KeyId,
  sig: SignatureHex
})
export type Signature = typeof Signature.Type

/** A public key as a bundle lists it; its keyId must be the one derived from the key. */
export const PublicKeyRecord = Schema.Struct({
  alg: Schema.Literal("ed25519"),
  keyId: KeyId,
  publicKey: PublicKeyHex
})
export type PublicKeyRecord = typeof PublicKeyRecord.Type

/**
 * The Signer service: one ed25519 key that signs protocol objects for one role.
 * The secret key lives only inside the service; callers see its keyId and public key.
 */
import { Context, Effect, Either, Layer, Redacted, Schema } from "effect"
import type { KeyId, PublicKeyHex } from "../protocol/Ids.js"
import type { PublicKeyRecord, Signature, SignerRole } from "../protocol/Signature.js"
import { keyIdOf, publicKeyOf, signBytes, toHex, verifyBytes } from "./Ed25519.js"
import { type SignedFamily, signingPayload } from "./SigningPayload.js"

export class SignatureInvalid extends Schema.TaggedError<SignatureInvalid>()("SignatureInvalid", {
  keyId: Schema.String,
  role: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `signature by ${this.keyId} (${this.role}) is invalid: ${this.reason}`
  }
}

export interface SignerShape {
  readonly keyId: KeyId
  readonly publicKey: PublicKeyHex
  readonly record: PublicKeyRecord
  /** Signs the canonical payload of a protocol object, covering any prior signatures. */
  readonly signObject: (
    family: SignedFamily,
    role: SignerRole,
    object: unknown,
    countersigns?: ReadonlyArray<Signature>
  ) => Effect.Effect<Signature>
}

export class Signer extends Context.Tag("warrant/crypto/Signer")<Signer, SignerShape>() {}

export const make = (secretKey: Redacted.Redacted<Uint8Array>): SignerShape => {
  const publicKey = toHex(publicKeyOf(Redacted.value(secretKey))) as PublicKeyHex
  const keyId = keyIdOf(publicKey)
  return {
    keyId,
    publicKey,
    record: { alg: "ed25519", keyId, publicKey },
    signObject: (family, role, object, countersigns = []) =>
      Effect.sync(() => {
        // Objects reaching a signer were built by this library; a non-JSON value is a bug.
        const payload = Either.getOrThrow(signingPayload(family, role, object, countersigns))
        return { alg: "ed25519", role, keyId, sig: signBytes(payload, Redacted.value(secretKey)) }
      })
  }
}

export const layer = (secretKey: Redacted.Redacted<Uint8Array>): Layer.Layer<Signer> => Layer.succeed(Signer, make(secretKey))

/** Checks one signature over an object (as received, unknown fields and all) with a known key. */
export const verifyObjectSignature = (
  family: SignedFamily,
  object: unknown,
  signature: Signature,
  key: PublicKeyRecord,
  countersigns: ReadonlyArray<Signature> = []
): Either.Either<void, SignatureInvalid> => {
  const fail = (reason: string) => Either.left(new SignatureInvalid({ keyId: signature.keyId, role: signature.role, reason }))
  if (keyIdOf(key.publicKey) !== signature.keyId) return fail("the public key offered does not derive to this keyId")
  const payload = signingPayload(family, signature.role, object, countersigns)
  if (Either.isLeft(payload)) return fail(`the signed object is not canonical JSON: ${payload.left.message}`)
  return verifyBytes(signature.sig, payload.right, key.publicKey) ? Either.void : fail("ed25519 verification failed")
}

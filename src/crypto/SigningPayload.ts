/**
 * What exactly a signature covers. The payload names the object family and the signer's
 * role, so a signature made for one purpose can never be replayed as another, and a
 * countersignature also covers the signatures it countersigns.
 */
import { Either } from "effect"
import { canonicalBytes, type CanonicalizationError } from "../protocol/Canonical.js"
import type { Signature, SignerRole } from "../protocol/Signature.js"

export type SignedFamily = "contract" | "receipt"

/** The body without its `signatures` field: a signature cannot cover itself. */
export const unsignedBody = (object: unknown): Record<string, unknown> => {
  const { signatures: _ignored, ...body } = object as Record<string, unknown>
  return body
}

export const signingPayload = (
  family: SignedFamily,
  role: SignerRole,
  object: unknown,
  countersigns: ReadonlyArray<Signature> = []
): Either.Either<Uint8Array, CanonicalizationError> =>
  canonicalBytes({
    purpose: `warrant.${family}.v1/${role}`,
    body: unsignedBody(object),
    countersigns
  })

/**
 * Proving one event of a run to someone who sees only the receipt: the receipt's runner and
 * plane signatures by trusted keys, then the event's audit path to the receipt's tree head.
 */
import { Either } from "effect"
import { canonicalize } from "../protocol/Canonical.js"
import { type EventDisclosure, verifyDisclosure } from "../chain/EventsTree.js"
import { decodeReceipt, type Receipt } from "../protocol/Receipt.js"
import type { PublicKeyRecord } from "../protocol/Signature.js"
import { verifyObjectSignature } from "../crypto/Signer.js"

export interface DisclosedEvent {
  readonly receipt: Receipt
  readonly disclosure: EventDisclosure
}

/** Left says why the event is not proven; Right is the event and the receipt it belongs to. */
export const verifyEventDisclosure = (
  input: { readonly receipt: unknown; readonly disclosure: unknown },
  options: { readonly trustedKeys: ReadonlyArray<PublicKeyRecord> }
): Either.Either<DisclosedEvent, string> => {
  // One snapshot of plain JSON, judged and returned: a value built in JavaScript (a getter, a
  // non-enumerable field) could otherwise show the hash one thing and the caller another.
  const snapshot = canonicalize(input)
  if (Either.isLeft(snapshot)) return Either.left(`not JSON data: ${snapshot.left.message}`)
  return judge(JSON.parse(snapshot.right) as typeof input, options)
}

const judge = (
  input: { readonly receipt: unknown; readonly disclosure: unknown },
  options: { readonly trustedKeys: ReadonlyArray<PublicKeyRecord> }
): Either.Either<DisclosedEvent, string> => {
  const decoded = decodeReceipt(input.receipt, "$.receipt")
  if (Either.isLeft(decoded)) return Either.left(decoded.left.message)
  const receipt = decoded.right
  const [runnerSig, planeSig, ...extra] = receipt.signatures
  if (runnerSig?.role !== "runner" || planeSig?.role !== "plane" || extra.length > 0) {
    return Either.left("the receipt must carry exactly the runner's signature and the plane's countersignature")
  }
  if (runnerSig.keyId === planeSig.keyId) return Either.left("the runner's key countersigned its own receipt")
  for (const [signature, countersigns] of [[runnerSig, []], [planeSig, [runnerSig]]] as const) {
    const key = options.trustedKeys.find((k) => k.keyId === signature.keyId)
    if (key === undefined) return Either.left(`the receipt's ${signature.role} key ${signature.keyId} is not trusted`)
    const verdict = verifyObjectSignature("receipt", input.receipt, signature, key, countersigns)
    if (Either.isLeft(verdict)) return Either.left(verdict.left.message)
  }
  return Either.map(verifyDisclosure(input.disclosure, receipt.eventsTree), (disclosure) => ({ receipt, disclosure }))
}

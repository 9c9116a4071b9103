/**
 * The ContractSigning service: the plane issues (signs) run contracts; a runner or anyone
 * else verifies one — issuer signature by a trusted key, validity window by Effect's Clock,
 * and the policy and workspace it commits to.
 */
import { Clock, Context, Effect, Either, Layer, Schema } from "effect"
import { type Contract, Contract as ContractSchema, decodeContract, type UnsignedContract } from "../protocol/Contract.js"
import { hashCanonical, type Sha256 } from "../protocol/Hash.js"
import { millisOf } from "../protocol/Ids.js"
import type { PublicKeyRecord } from "../protocol/Signature.js"
import { encodeContract } from "../protocol/Digest.js"
import { Signer, verifyObjectSignature } from "./Signer.js"

export const RejectionReason = Schema.Literal(
  "malformed",
  "unsupported-version",
  "bad-signature",
  "unknown-issuer",
  "not-yet-valid",
  "expired",
  "policy-mismatch",
  "manifest-mismatch"
)
export type RejectionReason = typeof RejectionReason.Type

export class ContractRejected extends Schema.TaggedError<ContractRejected>()("ContractRejected", {
  runId: Schema.optional(Schema.String),
  reason: RejectionReason,
  detail: Schema.String
}) {
  override get message(): string {
    return `contract${this.runId === undefined ? "" : ` for run ${this.runId}`} rejected (${this.reason}): ${this.detail}`
  }
}

export interface VerifiedContract {
  readonly contract: Contract
  /** SHA-256 of the canonical contract as received (signatures included): the chain's genesis. */
  readonly contractHash: Sha256
  /** SHA-256 of the canonical workspace manifest as received. */
  readonly manifestHash: Sha256
}

export interface Expectations {
  /** The hash of the policy the verifier holds; the contract must commit to the same. */
  readonly policyHash?: Sha256
  /** The hash of the manifest the verifier materialised; the contract's workspace must hash to it. */
  readonly manifestHash?: Sha256
}

export interface ContractSigningShape {
  readonly issue: (contract: UnsignedContract) => Effect.Effect<Contract>
  readonly verify: (input: unknown, expect?: Expectations) => Effect.Effect<VerifiedContract, ContractRejected>
}

const decodeIssued = Schema.decodeSync(ContractSchema)

export class ContractSigning extends Context.Tag("warrant/crypto/ContractSigning")<ContractSigning, ContractSigningShape>() {}

export interface Options {
  readonly trustedIssuers: ReadonlyArray<PublicKeyRecord>
  /** Tolerated clock skew for a contract issued "in the future"; default 60 s. */
  readonly clockSkewMillis?: number
}

/** The verification half, usable by anyone who holds the issuers' public keys. */
export const verifyWith = (options: Options) =>
  Effect.fn("ContractSigning.verify")(function*(input: unknown, expect: Expectations = {}) {
    const skew = options.clockSkewMillis ?? 60_000
    const runId = typeof input === "object" && input !== null && typeof (input as { runId?: unknown }).runId === "string"
      ? (input as { runId: string }).runId
      : undefined
    const reject = (reason: RejectionReason, detail: string) =>
      Effect.fail(new ContractRejected({ reason, detail, ...(runId === undefined ? {} : { runId }) }))

    const decoded = decodeContract(input)
    if (Either.isLeft(decoded)) {
      return yield* reject(decoded.left._tag === "UnsupportedVersion" ? "unsupported-version" : "malformed", decoded.left.message)
    }
    const contract = decoded.right
    const contractHash = hashCanonical(input)
    if (Either.isLeft(contractHash)) return yield* reject("malformed", contractHash.left.message)

    const [signature, ...extra] = contract.signatures
    if (signature === undefined) return yield* reject("bad-signature", "the contract carries no signature")
    if (extra.length > 0 || signature.role !== "issuer") {
      return yield* reject("bad-signature", "a contract carries exactly one signature, by its issuer")
    }
    if (signature.keyId !== contract.issuer.keyId) {
      return yield* reject("bad-signature", `signed by ${signature.keyId} but names ${contract.issuer.keyId} as issuer`)
    }
    const issuer = options.trustedIssuers.find((k) => k.keyId === signature.keyId)
    if (issuer === undefined) return yield* reject("unknown-issuer", `issuer ${signature.keyId} is not a trusted issuer key`)
    const checked = verifyObjectSignature("contract", input, signature, issuer)
    if (Either.isLeft(checked)) return yield* reject("bad-signature", checked.left.reason)

    const now = yield* Clock.currentTimeMillis
    const issuedAt = millisOf(contract.issuedAt)
    const expiresAt = millisOf(contract.expiresAt)
    if (expiresAt <= issuedAt) return yield* reject("malformed", "expiresAt is not after issuedAt")
    if (issuedAt > now + skew) return yield* reject("not-yet-valid", `issued at ${contract.issuedAt}, later than this clock allows`)
    if (now >= expiresAt) return yield* reject("expired", `expired at ${contract.expiresAt}`)

    if (expect.policyHash !== undefined && expect.policyHash !== contract.policyHash) {
      return yield* reject("policy-mismatch", `contract commits to policy ${contract.policyHash}, expected ${expect.policyHash}`)
    }
    const manifestHash = hashCanonical((input as { workspace: unknown }).workspace)
    if (Either.isLeft(manifestHash)) return yield* reject("malformed", manifestHash.left.message)
    if (expect.manifestHash !== undefined && manifestHash.right !== expect.manifestHash) {
      return yield* reject("manifest-mismatch", `contract workspace manifest hashes to ${manifestHash.right}, expected ${expect.manifestHash}`)
    }
    return { contract, contractHash: contractHash.right, manifestHash: manifestHash.right }
  })

/** Issues with the plane's Signer, and trusts that key for verification too. */
export const layer = (options: Options = { trustedIssuers: [] }): Layer.Layer<ContractSigning, never, Signer> =>
  Layer.effect(
    ContractSigning,
    Effect.map(Signer, (signer) =>
      ContractSigning.of({
        issue: Effect.fn("ContractSigning.issue")(function*(unsigned: UnsignedContract) {
          // Sign and return the encoded form, so fields outside the schema can neither slip
          // into the returned contract unsigned nor break its signature.
          const encoded = encodeContract({ ...unsigned, issuer: { keyId: signer.keyId }, signatures: [] })
          const signature = yield* signer.signObject("contract", "issuer", encoded)
          return decodeIssued({ ...encoded, signatures: [signature] })
        }),
        verify: verifyWith({ ...options, trustedIssuers: [signer.record, ...options.trustedIssuers] })
      }))
  )

/** Verification only, for runners and auditors that hold no issuer key. */
export const layerVerifier = (options: Options): Layer.Layer<ContractSigning> =>
  Layer.succeed(
    ContractSigning,
    ContractSigning.of({
      issue: () => Effect.dieMessage("this ContractSigning layer verifies only; use ContractSigning.layer with the plane's Signer to issue"),
      verify: verifyWith(options)
    })
  )

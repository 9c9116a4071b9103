/**
 * The identities of protocol objects: SHA-256 over the canonical JSON of their *encoded*
 * form (never a class instance or a value with extra fields).
 */
import { Schema } from "effect"
import { Contract } from "./Contract.js"
import { hashCanonicalOrThrow, type Sha256 } from "./Hash.js"
import { Manifest } from "./Manifest.js"
import { Policy } from "./Policy.js"

export const encodeContract = Schema.encodeSync(Contract)
export const encodeManifest = Schema.encodeSync(Manifest)
export const encodePolicy = Schema.encodeSync(Policy)

/** The contract's identity, signatures included: the genesis link of its event chain. */
export const contractHash = (contract: Contract): Sha256 => hashCanonicalOrThrow(encodeContract(contract))
export const manifestHash = (manifest: Manifest): Sha256 => hashCanonicalOrThrow(encodeManifest(manifest))
export const policyHash = (policy: Policy): Sha256 => hashCanonicalOrThrow(encodePolicy(policy))

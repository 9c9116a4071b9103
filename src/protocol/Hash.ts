/**
 * SHA-256 over canonical JSON and over raw blobs. Wire objects always spell the
 * algorithm (`sha256:<hex>`) so a verifier never has to guess what a hash means.
 */
import { hash } from "node:crypto"
import { Either, Schema } from "effect"
import { canonicalize, type CanonicalizationError } from "./Canonical.js"

/** 64 lowercase hex characters: a bare SHA-256 digest. */
export const Sha256Hex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "expected 64 lowercase hex characters (a SHA-256 digest)" }),
  Schema.brand("Sha256Hex")
)
export type Sha256Hex = typeof Sha256Hex.Type

/** `sha256:` followed by 64 lowercase hex characters. */
export const Sha256 = Schema.String.pipe(
  Schema.pattern(/^sha256:[0-9a-f]{64}$/, { message: () => "expected \"sha256:\" followed by 64 lowercase hex characters" }),
  Schema.brand("Sha256")
)
export type Sha256 = typeof Sha256.Type

export const digest = (data: Uint8Array | string): Uint8Array => hash("sha256", data, "buffer")

// One-shot crypto.hash (Node >= 20.12) is markedly cheaper than createHash for small inputs.
export const sha256Hex = (data: Uint8Array | string): Sha256Hex => hash("sha256", data, "hex") as Sha256Hex

/** The prefixed form of a blob's hash: what goes into manifests, events and receipts. */
export const sha256 = (data: Uint8Array | string): Sha256 => `sha256:${sha256Hex(data)}` as Sha256

/** Hash of a JSON value's RFC 8785 canonical bytes. */
// Hashing the canonical text directly lets node encode UTF-8 natively, without a TextEncoder copy.
export const hashCanonical = (value: unknown): Either.Either<Sha256, CanonicalizationError> =>
  Either.map(canonicalize(value), sha256)

/** For values this library built itself (already valid JSON data); throws otherwise. */
export const hashCanonicalOrThrow = (value: unknown): Sha256 => Either.getOrThrow(hashCanonical(value))

/** The 32 raw bytes of a prefixed hash. */
export const bytesOf = (hash: Sha256): Uint8Array => Buffer.from(hash.slice(7), "hex")

export const fromBytes = (bytes: Uint8Array): Sha256 => `sha256:${Buffer.from(bytes).toString("hex")}` as Sha256

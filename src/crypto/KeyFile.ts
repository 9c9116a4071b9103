/**
 * The on-disk formats of keys: a private key file (mode 0600) and a public key file
 * that can be handed to verifiers. Parsing is pure and checks that the parts agree.
 */
import { Either, ParseResult, Redacted, Schema } from "effect"
import { KeyId, PublicKeyHex, type PublicKeyHex as PublicKeyHexType } from "../protocol/Ids.js"
import type { PublicKeyRecord } from "../protocol/Signature.js"
import { fromHex, keyIdOf, publicKeyOf, toHex } from "./Ed25519.js"

export const PrivateKeyFile = Schema.Struct({
  version: Schema.Literal("warrant.key.v1"),
  alg: Schema.Literal("ed25519"),
  keyId: KeyId,
  publicKey: PublicKeyHex,
  secretKey: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "expected 64 lowercase hex characters" }))
})

export const PublicKeyFile = Schema.Struct({
  version: Schema.Literal("warrant.pubkey.v1"),
  alg: Schema.Literal("ed25519"),
  keyId: KeyId,
  publicKey: PublicKeyHex
})

export interface KeyPair {
  readonly keyId: KeyId
  readonly publicKey: PublicKeyHexType
  readonly record: PublicKeyRecord
  readonly secretKey: Redacted.Redacted<Uint8Array>
}

export const keyPairOf = (secretKey: Uint8Array): KeyPair => {
  const publicKey = toHex(publicKeyOf(secretKey)) as PublicKeyHexType
  const keyId = keyIdOf(publicKey)
  return { keyId, publicKey, record: { alg: "ed25519", keyId, publicKey }, secretKey: Redacted.make(secretKey) }
}

export const renderPrivateKeyFile = (pair: KeyPair): string =>
  JSON.stringify({
    version: "warrant.key.v1",
    alg: "ed25519",
    keyId: pair.keyId,
    publicKey: pair.publicKey,
    secretKey: toHex(Redacted.value(pair.secretKey))
  }, null, 2) + "\n"

export const renderPublicKeyFile = (key: PublicKeyRecord): string =>
  JSON.stringify({ version: "warrant.pubkey.v1", alg: "ed25519", keyId: key.keyId, publicKey: key.publicKey }, null, 2) + "\n"

const parseJson = (text: string): Either.Either<unknown, string> =>
  Either.try({ try: () => JSON.parse(text) as unknown, catch: () => "not JSON" })

const describe = (error: ParseResult.ParseError) =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((i) => `${i.path.join(".") || "$"}: ${i.message}`).join("; ")

/** Parses a private key file; the stored keyId and public key must derive from the secret. */
export const parsePrivateKeyFile = (text: string): Either.Either<KeyPair, string> =>
  parseJson(text).pipe(
    Either.flatMap((json) => Either.mapLeft(Schema.decodeUnknownEither(PrivateKeyFile, { errors: "all" })(json), describe)),
    Either.flatMap((file) => {
      const pair = keyPairOf(fromHex(file.secretKey))
      if (pair.publicKey !== file.publicKey) return Either.left("publicKey does not match secretKey")
      if (pair.keyId !== file.keyId) return Either.left("keyId does not match the key")
      return Either.right(pair)
    })
  )

/** Parses a public key file, or a bare 64-hex ed25519 public key. */
export const parsePublicKey = (text: string): Either.Either<PublicKeyRecord, string> => {
  const trimmed = text.trim()
  if (/^[0-9a-f]{64}$/.test(trimmed)) {
    const publicKey = trimmed as PublicKeyHexType
    return Either.right({ alg: "ed25519", keyId: keyIdOf(publicKey), publicKey })
  }
  return parseJson(trimmed).pipe(
    Either.flatMap((json) => Either.mapLeft(Schema.decodeUnknownEither(PublicKeyFile, { errors: "all" })(json), describe)),
    Either.flatMap((file) =>
      keyIdOf(file.publicKey) === file.keyId
        ? Either.right<PublicKeyRecord>({ alg: "ed25519", keyId: file.keyId, publicKey: file.publicKey })
        : Either.left("keyId does not match publicKey")
    )
  )
}

/**
 * The ed25519 primitives on @noble/ed25519, with SHA-512 from node:crypto so the
 * synchronous API works. Verification uses RFC 8032's strict rules (not ZIP-215), so a
 * signature has exactly one valid encoding.
 */
import * as ed from "@noble/ed25519"
import { createHash } from "node:crypto"
import { sha256Hex } from "../protocol/Hash.js"
import type { KeyId, PublicKeyHex, SignatureHex } from "../protocol/Ids.js"

ed.hashes.sha512 = (message) => new Uint8Array(createHash("sha512").update(message).digest())

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"))

export const keyIdOf = (publicKey: Uint8Array | PublicKeyHex): KeyId =>
  `ed25519:${sha256Hex(typeof publicKey === "string" ? fromHex(publicKey) : publicKey)}` as KeyId

export interface KeyMaterial {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

export const generateKey = (): KeyMaterial => {
  const { secretKey, publicKey } = ed.keygen()
  return { secretKey, publicKey }
}

export const publicKeyOf = (secretKey: Uint8Array): Uint8Array => ed.getPublicKey(secretKey)

export const signBytes = (message: Uint8Array, secretKey: Uint8Array): SignatureHex =>
  toHex(ed.sign(message, secretKey)) as SignatureHex

/** Never throws: a malformed key or signature is simply not valid. */
export const verifyBytes = (signature: string, message: Uint8Array, publicKey: string): boolean => {
  if (!/^[0-9a-f]{128}$/.test(signature) || !/^[0-9a-f]{64}$/.test(publicKey)) return false
  try {
    return ed.verify(fromHex(signature), message, fromHex(publicKey), { zip215: false })
  } catch {
    return false
  }
}

/**
 * AES-256-GCM sealing for secrets at rest. The secret's name is the associated data, so a sealed
 * value moved to another name fails to open; the key's fingerprint is stored beside it, so a plane
 * started with the wrong master key says so instead of reporting corruption. Pure.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"
import { Either } from "effect"

export const KEY_BYTES = 32

/** `v1.<key fingerprint>.<iv>.<tag>.<ciphertext>`, each part base64url. */
export type Sealed = string

export const fingerprint = (key: Uint8Array): string =>
  createHash("sha256").update("warrant.seal.v1\0").update(key).digest("base64url").slice(0, 16)

export const seal = (key: Uint8Array, name: string, value: string): Sealed => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  cipher.setAAD(Buffer.from(name, "utf8"))
  const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()])
  return ["v1", fingerprint(key), iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), body.toString("base64url")].join(".")
}

export type OpenFailure = "malformed" | "wrong-key" | "tampered"

const base64url = /^[A-Za-z0-9_-]*$/

export const open = (key: Uint8Array, name: string, sealed: Sealed): Either.Either<string, OpenFailure> => {
  const parts = sealed.split(".")
  if (parts.length !== 5 || parts[0] !== "v1") return Either.left("malformed")
  const [, print, iv, tag, body] = parts as [string, string, string, string, string]
  // A damaged form (not base64url, a 12-byte iv or 16-byte tag cut short) is "malformed", not a key mismatch.
  if (!parts.slice(1).every((p) => base64url.test(p)) || print.length !== 16 || iv.length !== 16 || tag.length !== 22) return Either.left("malformed")
  if (print !== fingerprint(key)) return Either.left("wrong-key")
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"), { authTagLength: 16 })
    decipher.setAAD(Buffer.from(name, "utf8"))
    decipher.setAuthTag(Buffer.from(tag, "base64url"))
    return Either.right(Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8"))
  } catch {
    return Either.left("tampered")
  }
}

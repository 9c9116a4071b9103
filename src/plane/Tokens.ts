/**
 * Bearer tokens: `<prefix>_<id>.<secret>`. The id finds the row; only the secret's SHA-256 is
 * stored, compared in constant time. Secrets are 32 random bytes, so a fast hash is enough.
 * Pure apart from the random source.
 */
import { randomBytes, timingSafeEqual } from "node:crypto"
import { sha256Hex } from "../protocol/Hash.js"

/** wpt: principal, wrt: runner, wct: claim, wet: enroll. */
export type TokenPrefix = "wpt" | "wrt" | "wct" | "wet"

export interface Minted {
  readonly token: string
  readonly id: string
  readonly secretHash: string
}

export const mint = (prefix: TokenPrefix): Minted => {
  const id = randomBytes(12).toString("hex")
  const secret = randomBytes(32).toString("base64url")
  return { token: `${prefix}_${id}.${secret}`, id, secretHash: sha256Hex(secret) }
}

export interface ParsedToken {
  readonly prefix: TokenPrefix
  readonly id: string
  readonly secret: string
}

const shape = /^(wpt|wrt|wct|wet)_([0-9a-f]{24})\.([A-Za-z0-9_-]{43})$/

export const parse = (token: string): ParsedToken | undefined => {
  const m = shape.exec(token)
  return m === null ? undefined : { prefix: m[1] as TokenPrefix, id: m[2]!, secret: m[3]! }
}

export const secretMatches = (secret: string, storedHash: string): boolean => {
  const a = Buffer.from(sha256Hex(secret), "hex")
  const b = Buffer.from(storedHash, "hex")
  return a.length === b.length && timingSafeEqual(a, b)
}

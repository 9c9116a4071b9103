import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "fast-check"
import { randomBytes } from "node:crypto"
import * as Seal from "../../src/plane/Seal.js"

const freshKey = () => new Uint8Array(randomBytes(Seal.KEY_BYTES))
const key = freshKey()

const IV = 2
const TAG = 3
const BODY = 4

/** The sealed string with one bit of one part flipped (the part decoded, flipped, re-encoded). */
const flipBit = (sealed: string, part: number, bit: number): string => {
  const parts = sealed.split(".")
  const bytes = Buffer.from(parts[part]!, "base64url")
  bytes[bit >> 3] = bytes[bit >> 3]! ^ (1 << (bit & 7))
  parts[part] = bytes.toString("base64url")
  return parts.join(".")
}

const withPart = (sealed: string, part: number, value: string): string => {
  const parts = sealed.split(".")
  parts[part] = value
  return parts.join(".")
}

const partBytes = (sealed: string, part: number) => Buffer.from(sealed.split(".")[part]!, "base64url")

describe("Seal", () => {
  it("opens what it sealed: ascii, unicode, control characters, empty and large values", () => {
    for (const value of ["hunter2", "pâté 🔐 秘密 ü\u0301 👩‍👩‍👧", "line\nbreak\ttab\u0000nul", "", "x".repeat(64 * 1024)]) {
      expect(Seal.open(key, "API_TOKEN", Seal.seal(key, "API_TOKEN", value))).toEqual(Either.right(value))
    }
  })

  it("writes v1.<fingerprint>.<12-byte iv>.<16-byte tag>.<ciphertext as long as the value>, none of it the plaintext", () => {
    const value = "correct horse battery staple"
    const sealed = Seal.seal(key, "NPM_TOKEN", value)
    const parts = sealed.split(".")
    expect(parts).toHaveLength(5)
    expect(parts[0]).toBe("v1")
    expect(parts[1]).toBe(Seal.fingerprint(key))
    expect(partBytes(sealed, IV)).toHaveLength(12)
    expect(partBytes(sealed, TAG)).toHaveLength(16)
    expect(partBytes(sealed, BODY)).toHaveLength(Buffer.byteLength(value))
    expect(parts.slice(1).every((p) => /^[A-Za-z0-9_-]*$/.test(p))).toBe(true)
    const utf8 = Buffer.from(value)
    for (const form of [value, utf8.toString("hex"), utf8.toString("base64"), utf8.toString("base64url")]) expect(sealed).not.toContain(form)
    expect(partBytes(sealed, BODY).includes(utf8)).toBe(false)
  })

  it("an empty value seals to an empty ciphertext that still authenticates", () => {
    const sealed = Seal.seal(key, "EMPTY", "")
    expect(sealed.split(".")[BODY]).toBe("")
    expect(Seal.open(key, "EMPTY", sealed)).toEqual(Either.right(""))
    expect(Seal.open(key, "OTHER", sealed)).toEqual(Either.left("tampered"))
    expect(Seal.open(key, "EMPTY", flipBit(sealed, TAG, 0))).toEqual(Either.left("tampered"))
  })

  it("fingerprints a key deterministically, 16 base64url characters, different per key", () => {
    expect(Seal.fingerprint(key)).toBe(Seal.fingerprint(Uint8Array.from(key)))
    expect(Seal.fingerprint(key)).toMatch(/^[A-Za-z0-9_-]{16}$/)
    expect(Seal.fingerprint(freshKey())).not.toBe(Seal.fingerprint(key))
  })

  it("under a different key is Left(wrong-key), not a garbled value", () => {
    const sealed = Seal.seal(key, "API_TOKEN", "hunter2")
    expect(Seal.open(freshKey(), "API_TOKEN", sealed)).toEqual(Either.left("wrong-key"))
    // A key differing in one bit has another fingerprint as well.
    const nearKey = Uint8Array.from(key)
    nearKey[31] = nearKey[31]! ^ 1
    expect(Seal.open(nearKey, "API_TOKEN", sealed)).toEqual(Either.left("wrong-key"))
  })

  it("a value moved to another name is Left(tampered): the name is the associated data", () => {
    const sealed = Seal.seal(key, "API_TOKEN", "hunter2")
    expect(Seal.open(key, "OTHER_TOKEN", sealed)).toEqual(Either.left("tampered"))
    expect(Seal.open(key, "api_token", sealed)).toEqual(Either.left("tampered"))
    expect(Seal.open(key, "API_TOKEN ", sealed)).toEqual(Either.left("tampered"))
    expect(Seal.open(key, "", sealed)).toEqual(Either.left("tampered"))
  })

  it("every flipped bit of the iv, the tag or the ciphertext is Left(tampered)", () => {
    const sealed = Seal.seal(key, "API_TOKEN", "hunter2")
    for (const part of [IV, TAG, BODY]) {
      const bits = partBytes(sealed, part).length * 8
      for (let bit = 0; bit < bits; bit++) {
        expect([part, bit, Seal.open(key, "API_TOKEN", flipBit(sealed, part, bit))]).toEqual([part, bit, Either.left("tampered")])
      }
    }
  })

  it("a truncated or extended tag, iv or ciphertext never opens", () => {
    const sealed = Seal.seal(key, "API_TOKEN", "hunter2")
    const tag = partBytes(sealed, TAG)
    const iv = partBytes(sealed, IV)
    const body = partBytes(sealed, BODY)
    const variants = [
      // GCM accepts tags of 4..16 bytes unless told the length: a 4-byte prefix of the right tag must not pass.
      withPart(sealed, TAG, tag.subarray(0, 4).toString("base64url")),
      withPart(sealed, TAG, tag.subarray(0, 12).toString("base64url")),
      withPart(sealed, TAG, tag.subarray(0, 15).toString("base64url")),
      withPart(sealed, TAG, Buffer.concat([tag, Buffer.from([0])]).toString("base64url")),
      withPart(sealed, TAG, ""),
      withPart(sealed, IV, iv.subarray(0, 11).toString("base64url")),
      withPart(sealed, IV, Buffer.concat([iv, Buffer.from([0])]).toString("base64url")),
      withPart(sealed, IV, ""),
      withPart(sealed, BODY, body.subarray(0, body.length - 1).toString("base64url")),
      withPart(sealed, BODY, Buffer.concat([body, Buffer.from([0])]).toString("base64url")),
      withPart(sealed, BODY, "")
    ]
    for (const variant of variants) {
      const opened = Either.flip(Seal.open(key, "API_TOKEN", variant))
      expect([variant, Either.getOrUndefined(opened)]).toEqual([variant, expect.stringMatching(/^(malformed|tampered)$/)])
    }
  })

  it("a malformed string is Left(malformed), whatever the key", () => {
    const sealed = Seal.seal(key, "API_TOKEN", "hunter2")
    const parts = sealed.split(".")
    const malformed = [
      "",
      "hunter2",
      "v1",
      "v1....",
      parts.slice(0, 4).join("."),
      [...parts, "extra"].join("."),
      withPart(sealed, 0, "v2"),
      withPart(sealed, 0, "V1"),
      withPart(sealed, 1, ""),
      withPart(sealed, IV, "not base64!"),
      withPart(sealed, TAG, "+/+/+/+/+/+/+/+/+/+/+w=="),
      ` ${sealed}`,
      `${sealed}\n`,
      sealed.replaceAll(".", ":")
    ]
    for (const text of malformed) {
      expect([text, Seal.open(key, "API_TOKEN", text)]).toEqual([text, Either.left("malformed")])
      expect([text, Seal.open(freshKey(), "API_TOKEN", text)]).toEqual([text, Either.left("malformed")])
    }
  })

  it("two seals of the same value differ (a random iv each time) and both open", () => {
    const a = Seal.seal(key, "API_TOKEN", "hunter2")
    const b = Seal.seal(key, "API_TOKEN", "hunter2")
    expect(a).not.toBe(b)
    expect(a.split(".")[IV]).not.toBe(b.split(".")[IV])
    expect(a.split(".")[BODY]).not.toBe(b.split(".")[BODY])
    expect(Seal.open(key, "API_TOKEN", a)).toEqual(Either.right("hunter2"))
    expect(Seal.open(key, "API_TOKEN", b)).toEqual(Either.right("hunter2"))
    const ivs = new Set(Array.from({ length: 200 }, () => Seal.seal(key, "API_TOKEN", "hunter2").split(".")[IV]))
    expect(ivs.size).toBe(200)
  })

  it("property: open(seal(v)) is v for any unicode value and name, and another name never opens it", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), fc.string({ unit: "grapheme", maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 40 }), (value, name, other) => {
        const sealed = Seal.seal(key, name, value)
        expect(Seal.open(key, name, sealed)).toEqual(Either.right(value))
        if (other !== name) expect(Seal.open(key, other, sealed)).toEqual(Either.left("tampered"))
      }),
      { numRuns: 300 }
    )
  })
})

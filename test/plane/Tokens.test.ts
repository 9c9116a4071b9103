import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { sha256Hex } from "../../src/protocol/Hash.js"
import * as Tokens from "../../src/plane/Tokens.js"

const prefixes: ReadonlyArray<Tokens.TokenPrefix> = ["wpt", "wrt", "wct", "wet"]

const ID = "0123456789abcdef01234567"
const SECRET = "A".repeat(21) + "_-" + "z9".repeat(10)

describe("Tokens", () => {
  it("mints <prefix>_<24 hex id>.<43 base64url secret> for every prefix, and parses it back", () => {
    for (const prefix of prefixes) {
      const minted = Tokens.mint(prefix)
      expect(minted.id).toMatch(/^[0-9a-f]{24}$/)
      const [head, secret] = minted.token.split(".") as [string, string]
      expect(head).toBe(`${prefix}_${minted.id}`)
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(Tokens.parse(minted.token)).toEqual({ prefix, id: minted.id, secret })
      expect(Tokens.secretMatches(secret, minted.secretHash)).toBe(true)
    }
  })

  it("parses a well-formed literal token into exactly its parts", () => {
    expect(SECRET).toHaveLength(43)
    expect(Tokens.parse(`wrt_${ID}.${SECRET}`)).toEqual({ prefix: "wrt", id: ID, secret: SECRET })
  })

  it("mints a fresh id and secret every time", () => {
    const minted = Array.from({ length: 100 }, () => Tokens.mint("wpt"))
    expect(new Set(minted.map((m) => m.id)).size).toBe(100)
    expect(new Set(minted.map((m) => m.token.split(".")[1])).size).toBe(100)
    expect(new Set(minted.map((m) => m.secretHash)).size).toBe(100)
  })

  it("refuses malformed tokens: wrong prefix, bad id, bad secret, extra dots, whitespace", () => {
    const good = `wpt_${ID}.${SECRET}`
    expect(Tokens.parse(good)).toBeDefined()
    const malformed = [
      "",
      "wpt",
      "wpt_",
      `${ID}.${SECRET}`,
      // wrong prefix
      `wxt_${ID}.${SECRET}`,
      `WPT_${ID}.${SECRET}`,
      `wp_${ID}.${SECRET}`,
      `wptt_${ID}.${SECRET}`,
      `wpt-${ID}.${SECRET}`,
      `Bearer wpt_${ID}.${SECRET}`,
      // the id: short, long, uppercase, not hex
      `wpt_${ID.slice(1)}.${SECRET}`,
      `wpt_${ID}0.${SECRET}`,
      `wpt_${ID.toUpperCase()}.${SECRET}`,
      `wpt_${ID.slice(0, 23)}g.${SECRET}`,
      `wpt_.${SECRET}`,
      // the secret: missing, short, long, non-base64url characters, padding
      `wpt_${ID}`,
      `wpt_${ID}.`,
      `wpt_${ID}.${SECRET.slice(1)}`,
      `wpt_${ID}.${SECRET}A`,
      `wpt_${ID}.${SECRET.slice(1)}+`,
      `wpt_${ID}.${SECRET.slice(1)}/`,
      `wpt_${ID}.${SECRET.slice(1)}=`,
      // extra dots
      `wpt_${ID}.${SECRET}.`,
      `wpt_${ID}.${SECRET}.${SECRET}`,
      `wpt_${ID}..${SECRET}`,
      `wpt_${ID}.${SECRET.slice(0, 20)}.${SECRET.slice(21)}`,
      `wpt.${ID}.${SECRET}`,
      // whitespace anywhere
      ` ${good}`,
      `${good} `,
      `${good}\n`,
      `\t${good}`,
      `wpt_${ID} .${SECRET}`,
      `wpt_${ID}.${SECRET.slice(0, 20)} ${SECRET.slice(21)}`,
      `wpt_${ID}.${SECRET}\r\n`,
      `${good}\u00a0`
    ]
    for (const token of malformed) expect([token, Tokens.parse(token)]).toEqual([token, undefined])
  })

  it("property: every 24-hex id and 43-character base64url secret parse back exactly; one more character of any kind anywhere does not", () => {
    const prefix = fc.constantFrom(...prefixes)
    const id = fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 24, maxLength: 24 })
    const secret = fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"), minLength: 43, maxLength: 43 })
    const extra = fc.constantFrom(" ", ".", "\n", "+", "/", "=", "a", "0", "_", "G", "\u0000")
    fc.assert(
      fc.property(prefix, id, secret, fc.nat(), extra, (p, i, s, at, ch) => {
        const token = `${p}_${i}.${s}`
        expect(Tokens.parse(token)).toEqual({ prefix: p, id: i, secret: s })
        const cut = at % (token.length + 1)
        expect(Tokens.parse(token.slice(0, cut) + ch + token.slice(cut))).toBeUndefined()
        expect(Tokens.parse(token.slice(0, cut === token.length ? cut - 1 : cut) + token.slice((cut === token.length ? cut - 1 : cut) + 1))).toBeUndefined()
      }),
      { numRuns: 500 }
    )
  })

  it("property: whatever arbitrary text parses is exactly <prefix>_<id>.<secret> again", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 90 }), (token) => {
        const parsed = Tokens.parse(token)
        if (parsed !== undefined) expect(`${parsed.prefix}_${parsed.id}.${parsed.secret}`).toBe(token)
      }),
      { numRuns: 300 }
    )
  })

  it("secretMatches only the right secret", () => {
    const minted = Tokens.mint("wrt")
    const other = Tokens.mint("wrt")
    const secret = Tokens.parse(minted.token)!.secret
    const otherSecret = Tokens.parse(other.token)!.secret
    expect(Tokens.secretMatches(secret, minted.secretHash)).toBe(true)
    expect(Tokens.secretMatches(otherSecret, minted.secretHash)).toBe(false)
    expect(Tokens.secretMatches(secret, other.secretHash)).toBe(false)
    expect(Tokens.secretMatches("", minted.secretHash)).toBe(false)
    expect(Tokens.secretMatches(`${secret} `, minted.secretHash)).toBe(false)
    expect(Tokens.secretMatches(secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A"), minted.secretHash)).toBe(false)
    expect(Tokens.secretMatches(minted.token, minted.secretHash)).toBe(false)
    // The stored hash presented as the secret does not match it.
    expect(Tokens.secretMatches(minted.secretHash, minted.secretHash)).toBe(false)
    // A damaged stored hash matches nothing (and does not throw).
    for (const damaged of ["", "zz", minted.secretHash.slice(0, 62), `${minted.secretHash}00`]) {
      expect(Tokens.secretMatches(secret, damaged)).toBe(false)
    }
  })

  it("stores only the secret's SHA-256, never the secret", () => {
    for (const prefix of prefixes) {
      const minted = Tokens.mint(prefix)
      const { secret } = Tokens.parse(minted.token)!
      expect(minted.secretHash).toMatch(/^[0-9a-f]{64}$/)
      expect(minted.secretHash).toBe(sha256Hex(secret))
      expect(minted.secretHash).not.toBe(secret)
      expect(minted.secretHash).not.toContain(secret)
      expect(minted.secretHash).not.toContain(Buffer.from(secret).toString("hex"))
      expect(minted.token).not.toContain(minted.secretHash)
      expect(minted.secretHash).not.toContain(minted.id)
    }
  })
})

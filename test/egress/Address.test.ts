import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import fc from "fast-check"
import {
  type Address,
  cidr,
  contains,
  equals,
  formatAddress,
  formatCidr,
  formatIPv4,
  formatIPv6,
  ipv4,
  ipv4FromNumber,
  parseAddress,
  parseCidr,
  parseIPv4,
  parseIPv6
} from "../../src/egress/Address.js"

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

const fromHex = (text: string): Uint8Array => Uint8Array.from(text.match(/../g)!.map((pair) => parseInt(pair, 16)))

const v4 = (text: string): Address => Option.getOrThrowWith(parseIPv4(text), () => new Error(`bad IPv4 ${text}`))
const v6 = (text: string): Address => Option.getOrThrowWith(parseIPv6(text), () => new Error(`bad IPv6 ${text}`))

/** Eight 16-bit words to 16 bytes. */
const wordsToBytes = (words: ReadonlyArray<number>): Uint8Array => {
  const bytes = new Uint8Array(16)
  words.forEach((word, i) => {
    bytes[i * 2] = word >> 8
    bytes[i * 2 + 1] = word & 0xff
  })
  return bytes
}

/**
 * RFC 5952, written differently from the source: search the longest candidate run first,
 * leftmost first, and only accept runs of two or more zero groups.
 */
const referenceFormatIPv6 = (bytes: Uint8Array): string => {
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!).toString(16))
  for (let length = 8; length >= 2; length--) {
    for (let start = 0; start + length <= 8; start++) {
      if (groups.slice(start, start + length).every((g) => g === "0")) {
        return `${groups.slice(0, start).join(":")}::${groups.slice(start + length).join(":")}`
      }
    }
  }
  return groups.join(":")
}

/** Bit i (0 = most significant bit of byte 0). */
const bit = (bytes: Uint8Array, i: number): number => (bytes[i >> 3]! >> (7 - (i & 7))) & 1

const arbWord = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xffff }) }
)
const arbWords = fc.array(arbWord, { minLength: 8, maxLength: 8 })
const arbIPv6Bytes = fc.oneof(arbWords.map(wordsToBytes), fc.uint8Array({ minLength: 16, maxLength: 16 }))
const arbIPv4Bytes = fc.uint8Array({ minLength: 4, maxLength: 4 })

describe("ipv4 / ipv4FromNumber", () => {
  it("ipv4 builds a four-byte family-4 address", () => {
    const address = ipv4(192, 0, 2, 1)
    expect(address.family).toBe(4)
    expect(Array.from(address.bytes)).toEqual([192, 0, 2, 1])
  })

  it.each([
    [0, "0.0.0.0"],
    [1, "0.0.0.1"],
    [2130706433, "127.0.0.1"],
    [2852039166, "169.254.169.254"],
    [0xffffffff, "255.255.255.255"],
    [0x01020304, "1.2.3.4"]
  ])("ipv4FromNumber(%d) is %s", (n, text) => {
    expect(formatAddress(ipv4FromNumber(n))).toBe(text)
  })
})

describe("parseIPv4 (strict dotted quad)", () => {
  it.each([
    ["0.0.0.0", [0, 0, 0, 0]],
    ["1.2.3.4", [1, 2, 3, 4]],
    ["10.0.0.1", [10, 0, 0, 1]],
    ["127.0.0.1", [127, 0, 0, 1]],
    ["192.168.100.200", [192, 168, 100, 200]],
    ["255.255.255.255", [255, 255, 255, 255]],
    ["169.254.169.254", [169, 254, 169, 254]]
  ])("accepts %s", (text, bytes) => {
    const address = v4(text)
    expect(address.family).toBe(4)
    expect(Array.from(address.bytes)).toEqual(bytes)
  })

  it.each([
    [""],
    ["1"],
    ["1.2"],
    ["1.2.3"],
    ["1.2.3.4.5"],
    ["1.2.3.4."],
    [".1.2.3.4"],
    ["1..3.4"],
    ["01.2.3.4"],
    ["1.2.3.04"],
    ["00.0.0.0"],
    ["0177.0.0.1"],
    ["0x7f.0.0.1"],
    ["0x7f000001"],
    ["127.1"],
    ["2130706433"],
    ["256.0.0.1"],
    ["1.2.3.256"],
    ["1.2.3.999"],
    ["1.2.3.1000"],
    ["-1.2.3.4"],
    ["+1.2.3.4"],
    ["1.2.3.-4"],
    [" 1.2.3.4"],
    ["1.2.3.4 "],
    ["1.2.3.4\n"],
    ["1.2.3.4/32"],
    ["a.b.c.d"],
    ["１.2.3.4"],
    ["1.2.3.4:80"],
    ["::1"]
  ])("refuses %j", (text) => {
    expect(Option.isNone(parseIPv4(text))).toBe(true)
  })
})

describe("parseIPv6", () => {
  it.each([
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["2001:db8::1", "20010db8000000000000000000000001"],
    ["2001:DB8::ABCD", "20010db800000000000000000000abcd"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "20010db8000000000000000000000001"],
    ["fe80::1:2", "fe800000000000000000000000010002"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["1::8", "00010000000000000000000000000008"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffffffffffffffffffffffffffffffff"],
    // Embedded dotted quads.
    ["::ffff:1.2.3.4", "00000000000000000000ffff01020304"],
    ["::FFFF:127.0.0.1", "00000000000000000000ffff7f000001"],
    ["::1.2.3.4", "00000000000000000000000001020304"],
    ["1::1.2.3.4", "00010000000000000000000001020304"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
    ["64:ff9b::169.254.169.254", "0064ff9b0000000000000000a9fea9fe"],
    ["0:0:0:0:0:ffff:255.255.255.255", "00000000000000000000ffffffffffff"],
    // The longest valid text, exactly 45 characters.
    ["0000:0000:0000:0000:0000:ffff:255.255.255.255", "00000000000000000000ffffffffffff"]
  ])("parses %s", (text, bytes) => {
    const address = v6(text)
    expect(address.family).toBe(6)
    expect(hex(address.bytes)).toBe(bytes)
  })

  it.each([
    [""],
    [":"],
    [":::"],
    [":::1"],
    ["1:::2"],
    ["::1::"],
    ["1::2::3"],
    ["1.2.3.4::"],
    ["1.2.3.4::5"],
    ["1.2.3.4"],
    ["::1.2.3.4:5"],
    ["::ffff:1.2.3.4:5"],
    ["::ffff:1.2.3"],
    ["::ffff:1.2.3.4.5"],
    ["::ffff:01.2.3.4"],
    ["::ffff:1.2.3.256"],
    ["::ffff:0x7f.0.0.1"],
    ["1:2:3:4:5:6:7"],
    ["1:2:3:4:5:6:7:8:9"],
    ["1:2:3:4:5:6:7:8::"],
    ["::1:2:3:4:5:6:7:8"],
    ["1:2:3:4::5:6:7:8"],
    ["1:2:3:4:5:6:7:1.2.3.4"],
    // `::` stands for at least one group, so seven words plus a quad leave no room for it.
    ["1:2:3:4:5:6::1.2.3.4"],
    [":1:2:3:4:5:6:7"],
    ["1:2:3:4:5:6:7:"],
    [":1::"],
    ["::1:"],
    ["12345::"],
    ["g::1"],
    ["0x1::"],
    ["-1::"],
    ["fe80::1%eth0"],
    ["fe80::1%25eth0"],
    ["::1%0"],
    ["[::1]"],
    [" ::1"],
    ["::1 "],
    ["::1\n"],
    ["::１"],
    ["0000:0000:0000:0000:0000:00000:ffff:1.2.3.4"],
    ["0000:0000:0000:0000:0000:0000:0000:0000:0000"]
  ])("refuses %j", (text) => {
    expect(Option.isNone(parseIPv6(text))).toBe(true)
  })
})

describe("parseAddress", () => {
  it.each([
    ["1.2.3.4", 4, "1.2.3.4"],
    ["::1", 6, "::1"],
    ["::ffff:1.2.3.4", 6, "::ffff:102:304"]
  ])("parses %s as family %d", (text, family, formatted) => {
    const address = Option.getOrThrow(parseAddress(text))
    expect(address.family).toBe(family)
    expect(formatAddress(address)).toBe(formatted)
  })

  it.each([["127.1"], ["[::1]"], ["example.com"], [""], ["1.2.3.4::"]])("refuses %j", (text) => {
    expect(Option.isNone(parseAddress(text))).toBe(true)
  })
})

describe("formatIPv4 / formatIPv6 / formatAddress", () => {
  it("formatIPv4 prints plain decimal", () => {
    expect(formatIPv4(Uint8Array.of(10, 0, 0, 255))).toBe("10.0.0.255")
    expect(formatIPv4(Uint8Array.of(0, 0, 0, 0))).toBe("0.0.0.0")
  })

  it.each([
    // all zero, and zero runs at either end
    ["00000000000000000000000000000000", "::"],
    ["00000000000000000000000000000001", "::1"],
    ["00010000000000000000000000000000", "1::"],
    ["20010db8000000000000000000000001", "2001:db8::1"],
    // lower case, no leading zeros
    ["20010db8000000000000000000abcdef", "2001:db8::ab:cdef"],
    ["abcdef01000000000000000000000000", "abcd:ef01::"],
    // a single zero group is never compressed
    ["20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1"],
    ["00010002000300040005000600070000", "1:2:3:4:5:6:7:0"],
    ["00000001000200030004000500060007", "0:1:2:3:4:5:6:7"],
    // no zero group at all
    ["00010002000300040005000600070008", "1:2:3:4:5:6:7:8"],
    // a run of two is compressed
    ["00010000000000030004000500060007", "1::3:4:5:6:7"],
    // the longest run wins even when it comes later
    ["20010000000000010000000000000001", "2001:0:0:1::1"],
    ["00000000000100000000000000000001", "0:0:1::1"],
    // leftmost-longest on a tie
    ["20010db8000000000001000000000001", "2001:db8::1:0:0:1"],
    ["00010000000000020000000000030004", "1::2:0:0:3:4"],
    ["00010000000000000002000000000000", "1::2:0:0:0"],
    ["00000000000100000000000100000000", "::1:0:0:1:0:0"],
    // mapped addresses are printed in hex (the proxy never shows them: they canonicalise to IPv4)
    ["00000000000000000000ffff7f000001", "::ffff:7f00:1"]
  ])("formats %s as %s", (bytes, text) => {
    expect(formatIPv6(fromHex(bytes))).toBe(text)
    expect(formatAddress({ family: 6, bytes: fromHex(bytes) })).toBe(text)
  })

  it.each([
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["FE80::ABCD", "fe80::abcd"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::ffff:127.0.0.1", "::ffff:7f00:1"],
    ["64:ff9b::127.0.0.1", "64:ff9b::7f00:1"]
  ])("parse %s then format is %s", (text, formatted) => {
    expect(formatAddress(v6(text))).toBe(formatted)
  })

  it("property: formatIPv6 agrees with an independent RFC 5952 formatter", () => {
    fc.assert(
      fc.property(arbIPv6Bytes, (bytes) => {
        expect(formatIPv6(bytes)).toBe(referenceFormatIPv6(bytes))
      }),
      { numRuns: 2000 }
    )
  })

  it("property: formatIPv6 → parseIPv6 round-trips every 16 bytes", () => {
    fc.assert(
      fc.property(arbIPv6Bytes, (bytes) => {
        const text = formatIPv6(bytes)
        const parsed = v6(text)
        expect(parsed.family).toBe(6)
        expect(hex(parsed.bytes)).toBe(hex(bytes))
        expect(text).toBe(text.toLowerCase())
        expect(text.split("::").length).toBeLessThanOrEqual(2)
      }),
      { numRuns: 2000 }
    )
  })

  it("property: formatIPv4 → parseIPv4 round-trips every 4 bytes", () => {
    fc.assert(
      fc.property(arbIPv4Bytes, (bytes) => {
        const parsed = v4(formatIPv4(bytes))
        expect(parsed.family).toBe(4)
        expect(Array.from(parsed.bytes)).toEqual(Array.from(bytes))
      }),
      { numRuns: 1000 }
    )
  })

  it("property: any valid spelling (case, leading zeros, any compressed zero run) parses to the same bytes", () => {
    const arbSpelling = fc
      .record({
        words: arbWords,
        pads: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
        upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        compress: fc.nat()
      })
      .map(({ compress, pads, upper, words }) => {
        const groups = words.map((w, i) => {
          const digits = w.toString(16)
          const padded = digits.padStart(Math.min(4, digits.length + pads[i]!), "0")
          return upper[i] ? padded.toUpperCase() : padded
        })
        // candidate runs of one or more zero words, any of which may be written `::`
        const runs: Array<[number, number]> = []
        for (let s = 0; s < 8; s++) for (let e = s + 1; e <= 8 && words[e - 1] === 0; e++) runs.push([s, e])
        if (runs.length === 0) return { words, text: groups.join(":") }
        const [s, e] = runs[compress % runs.length]!
        return { words, text: `${groups.slice(0, s).join(":")}::${groups.slice(e).join(":")}` }
      })
    fc.assert(
      fc.property(arbSpelling, ({ text, words }) => {
        expect(hex(v6(text).bytes)).toBe(hex(wordsToBytes(words)))
        expect(formatIPv6(v6(text).bytes)).toBe(formatIPv6(wordsToBytes(words)))
      }),
      { numRuns: 2000 }
    )
  })
})

describe("equals", () => {
  it("compares family and bytes", () => {
    expect(equals(v4("1.2.3.4"), ipv4(1, 2, 3, 4))).toBe(true)
    expect(equals(v4("1.2.3.4"), v4("1.2.3.5"))).toBe(false)
    expect(equals(v6("::1"), v6("0:0:0:0:0:0:0:1"))).toBe(true)
    expect(equals(v6("::1"), v6("::2"))).toBe(false)
  })

  it("an IPv4 address never equals an IPv6 one, even with the same leading bytes", () => {
    expect(equals(v4("0.0.0.0"), v6("::"))).toBe(false)
    expect(equals(v6("::"), v4("0.0.0.0"))).toBe(false)
    expect(equals(v4("1.2.3.4"), v6("::ffff:1.2.3.4"))).toBe(false)
  })
})

describe("parseCidr / formatCidr / cidr", () => {
  it.each([
    ["10.0.0.0/8", "10.0.0.0", 8],
    ["0.0.0.0/0", "0.0.0.0", 0],
    ["1.2.3.4", "1.2.3.4", 32],
    ["1.2.3.4/32", "1.2.3.4", 32],
    ["172.16.0.0/12", "172.16.0.0", 12],
    ["::1", "::1", 128],
    ["::/0", "::", 0],
    ["fd00::/8", "fd00::", 8],
    ["2001:db8::/32", "2001:db8::", 32],
    ["fe80::/10", "fe80::", 10],
    ["::ffff:127.0.0.0/104", "::ffff:7f00:0", 104],
    ["2001:db8::/128", "2001:db8::", 128],
    // parseCidr does not reject host bits; EgressPolicy does
    ["10.0.0.1/8", "10.0.0.1", 8]
  ])("parses %s", (text, address, prefix) => {
    const block = Option.getOrThrow(parseCidr(text))
    expect(formatAddress(block.address)).toBe(address)
    expect(block.prefix).toBe(prefix)
    expect(formatCidr(block)).toBe(`${address}/${prefix}`)
  })

  it.each([
    [""],
    ["/8"],
    ["10.0.0.0/"],
    ["10.0.0.0/33"],
    ["10.0.0.0/08"],
    ["10.0.0.0/00"],
    ["10.0.0.0/-1"],
    ["10.0.0.0/+8"],
    ["10.0.0.0/8/8"],
    ["10.0.0.0/ 8"],
    ["10.0.0.0 /8"],
    ["10.0.0.0/8 "],
    ["10.0.0.0/1000"],
    ["10.0.0.0/0x8"],
    ["::/129"],
    ["::/1000"],
    ["10/8"],
    ["0x7f.1/8"],
    ["[::1]/128"],
    ["fe80::1%eth0/64"],
    ["example.com/8"]
  ])("refuses %j", (text) => {
    expect(Option.isNone(parseCidr(text))).toBe(true)
  })

  it("cidr() throws on an invalid literal, naming it", () => {
    expect(() => cidr("10.0.0.0/33")).toThrow("invalid CIDR literal in source: 10.0.0.0/33")
  })
})

describe("contains", () => {
  it.each([
    ["10.0.0.0/8", "10.0.0.0", true],
    ["10.0.0.0/8", "10.255.255.255", true],
    ["10.0.0.0/8", "11.0.0.0", false],
    ["10.0.0.0/8", "9.255.255.255", false],
    // non-byte-aligned prefixes
    ["172.16.0.0/12", "172.16.0.0", true],
    ["172.16.0.0/12", "172.31.255.255", true],
    ["172.16.0.0/12", "172.32.0.0", false],
    ["172.16.0.0/12", "172.15.255.255", false],
    ["100.64.0.0/10", "100.64.0.1", true],
    ["100.64.0.0/10", "100.127.255.255", true],
    ["100.64.0.0/10", "100.128.0.0", false],
    ["100.64.0.0/10", "100.63.255.255", false],
    ["198.18.0.0/15", "198.19.255.255", true],
    ["198.18.0.0/15", "198.20.0.0", false],
    ["198.18.0.0/15", "198.17.255.255", false],
    ["224.0.0.0/4", "239.255.255.255", true],
    ["224.0.0.0/4", "240.0.0.0", false],
    ["1.2.3.4/31", "1.2.3.5", true],
    ["1.2.3.4/31", "1.2.3.6", false],
    ["1.2.3.4/30", "1.2.3.7", true],
    ["1.2.3.4/30", "1.2.3.8", false],
    ["128.0.0.0/1", "255.255.255.255", true],
    ["128.0.0.0/1", "127.255.255.255", false],
    ["1.2.3.4/32", "1.2.3.4", true],
    ["1.2.3.4/32", "1.2.3.5", false],
    ["0.0.0.0/0", "0.0.0.0", true],
    ["0.0.0.0/0", "255.255.255.255", true],
    ["fe80::/10", "fe80::1", true],
    ["fe80::/10", "febf:ffff::1", true],
    ["fe80::/10", "fec0::", false],
    ["fe80::/10", "fe7f:ffff::", false],
    ["fc00::/7", "fc00::1", true],
    ["fc00::/7", "fdff:ffff::1", true],
    ["fc00::/7", "fe00::", false],
    ["fc00::/7", "fbff::", false],
    ["2001:db8::/33", "2001:db8:7fff::", true],
    ["2001:db8::/33", "2001:db8:8000::", false],
    ["::1/128", "::1", true],
    ["::1/128", "::2", false],
    ["::/0", "2001:db8::1", true],
    ["::/0", "::", true],
    ["2001:db8::/127", "2001:db8::1", true],
    ["2001:db8::/127", "2001:db8::2", false]
  ])("%s contains %s: %s", (block, address, expected) => {
    expect(contains(cidr(block), Option.getOrThrow(parseAddress(address)))).toBe(expected)
  })

  it.each([
    ["::/0", "1.2.3.4"],
    ["::ffff:0:0/96", "1.2.3.4"],
    ["0.0.0.0/0", "::"],
    ["0.0.0.0/0", "::ffff:1.2.3.4"],
    ["127.0.0.0/8", "::ffff:127.0.0.1"]
  ])("%s never contains %s (another family)", (block, address) => {
    expect(contains(cidr(block), Option.getOrThrow(parseAddress(address)))).toBe(false)
  })

  it("property: contains is exactly 'the first prefix bits are equal' (IPv4 and IPv6)", () => {
    const arbCase = fc.oneof(
      fc.record({
        family: fc.constant(4 as const),
        a: arbIPv4Bytes,
        b: arbIPv4Bytes,
        prefix: fc.integer({ min: 0, max: 32 }),
        share: fc.integer({ min: 0, max: 32 })
      }),
      fc.record({
        family: fc.constant(6 as const),
        a: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        b: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        prefix: fc.integer({ min: 0, max: 128 }),
        share: fc.integer({ min: 0, max: 128 })
      })
    )
    fc.assert(
      fc.property(arbCase, ({ a, b, family, prefix, share }) => {
        // make b share its first `share` bits with a, so near-misses are common
        const other = Uint8Array.from(b)
        for (let i = 0; i < share; i++) {
          const mask = 1 << (7 - (i & 7))
          other[i >> 3] = (other[i >> 3]! & ~mask) | (a[i >> 3]! & mask)
        }
        let expected = true
        for (let i = 0; i < prefix; i++) if (bit(a, i) !== bit(other, i)) expected = false
        const block = { address: { family, bytes: a }, prefix }
        expect(contains(block, { family, bytes: other })).toBe(expected)
        expect(contains(block, { family, bytes: a })).toBe(true)
      }),
      { numRuns: 3000 }
    )
  })
})

import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import fc from "fast-check"
import { formatAddress, formatIPv4 } from "../../src/egress/Address.js"
import {
  type Authority,
  type AuthorityError,
  authorityText,
  canonicalHost,
  type Host,
  hostText,
  parseAuthority,
  parseIPv4Loose,
  sameAuthority
} from "../../src/egress/Host.js"
import { canonicalAddress } from "../../src/egress/Ranges.js"

const host = (raw: string): Host => {
  const result = canonicalHost(raw)
  if (Either.isLeft(result)) throw new Error(`expected ${JSON.stringify(raw)} to canonicalise, got ${result.left.problem}: ${result.left.detail}`)
  return result.right
}

const hostError = (raw: string): AuthorityError => {
  const result = canonicalHost(raw)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(raw)} to be refused, got ${hostText(result.right)}`)
  return result.left
}

const authority = (raw: string, defaultPort: number | undefined): Authority => {
  const result = parseAuthority(raw, defaultPort)
  if (Either.isLeft(result)) throw new Error(`expected ${JSON.stringify(raw)} to parse, got ${result.left.problem}: ${result.left.detail}`)
  return result.right
}

const authorityError = (raw: string, defaultPort: number | undefined): AuthorityError => {
  const result = parseAuthority(raw, defaultPort)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(raw)} to be refused, got ${authorityText(result.right)}`)
  return result.left
}

const text = (raw: string): string => hostText(host(raw))

describe("canonicalHost: IPv4 spellings", () => {
  it.each([
    ["127.0.0.1"],
    ["2130706433"],
    ["0177.0.0.1"],
    ["0177.0.0.01"],
    ["0x7f.1"],
    ["0X7F.1"],
    ["0x7f.0.0.1"],
    ["0x7f.0x0.0x0.0x1"],
    ["127.0.0.0x1"],
    ["0x7f000001"],
    ["0X7F000001"],
    ["127.1"],
    ["127.0.1"],
    ["017700000001"],
    ["127.0.0.1."],
    ["0x7f.1."],
    ["１２７.０.０.１"],
    ["127。0。0。1"],
    ["１２７。０。０。１"],
    ["127．0．0．1"],
    ["０x7f.1"]
  ])("%j is 127.0.0.1", (raw) => {
    const h = host(raw)
    expect(h._tag).toBe("Ip")
    expect(hostText(h)).toBe("127.0.0.1")
  })

  it.each([
    ["169.254.169.254"],
    ["2852039166"],
    ["0xa9fea9fe"],
    ["0xA9FEA9FE"],
    ["0251.0376.0251.0376"],
    ["0xa9.0xfe.0xa9.0xfe"],
    ["169.254.43518"],
    ["169.16689662"],
    ["025177524776"],
    ["169.254.169.254."]
  ])("%j is 169.254.169.254", (raw) => {
    const h = host(raw)
    expect(h._tag).toBe("Ip")
    expect(hostText(h)).toBe("169.254.169.254")
  })

  it.each([
    ["0", "0.0.0.0"],
    ["0x", "0.0.0.0"],
    ["0.0.0.0", "0.0.0.0"],
    ["1.1", "1.0.0.1"],
    ["4294967295", "255.255.255.255"],
    ["0xffffffff", "255.255.255.255"],
    ["10.0.0.1", "10.0.0.1"],
    ["93.184.215.14", "93.184.215.14"]
  ])("%j is %s", (raw, expected) => {
    expect(text(raw)).toBe(expected)
  })

  // These end in a number, so (WHATWG) they are IPv4 or nothing — never a name.
  it.each([
    ["1.2.3.999"],
    ["08.1.1.1"],
    ["09"],
    ["1.2.3.4.5"],
    ["256.0.0.1"],
    ["4294967296"],
    ["0x1ffffffff"],
    ["0x100.1"],
    ["example.1"],
    ["example.0x1"]
  ])("%j is refused", (raw) => {
    expect(Either.isLeft(canonicalHost(raw))).toBe(true)
  })

  // The module's own contract: "bad-ipv4: the host ends in a number but is not a valid
  // IPv4 address". Plain ASCII takes a fast path and gets bad-ipv4; a non-ASCII spelling goes
  // through node:url's domainToASCII, which runs the whole WHATWG host parser (IPv4 included)
  // and returns "" for an invalid number, so it is reported as bad-name instead.
  it.each([["1.2.3.999"], ["08.1.1.1"], ["1.2.3.4.5"], ["１.2.3.999"], ["１２７.０.０.９９９"]])(
    "%j is refused as bad-ipv4",
    (raw) => {
      expect(hostError(raw).problem).toBe("bad-ipv4")
    }
  )
})

describe("parseIPv4Loose", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["127.1", "127.0.0.1"],
    ["127.0.1", "127.0.0.1"],
    ["2130706433", "127.0.0.1"],
    ["0x7f.1", "127.0.0.1"],
    ["0177.1", "127.0.0.1"],
    ["0x7f000001", "127.0.0.1"],
    ["017700000001", "127.0.0.1"],
    ["127.0.0.1.", "127.0.0.1"],
    ["169.254.43518", "169.254.169.254"],
    ["0x", "0.0.0.0"],
    ["00", "0.0.0.0"],
    ["1.2.65535", "1.2.255.255"],
    ["1.16777215", "1.255.255.255"]
  ])("%j is %s", (raw, expected) => {
    expect(formatIPv4(Option.getOrThrow(parseIPv4Loose(raw)).bytes)).toBe(expected)
  })

  it.each([
    [""],
    ["."],
    ["1..2"],
    ["1.2.3.4.5"],
    ["1.2.3.256"],
    ["256.1"],
    ["1.2.65536"],
    ["1.16777216"],
    ["4294967296"],
    ["08"],
    ["0x7g"],
    ["1e3"],
    ["-1"],
    ["+1"],
    ["1.2.3.4.."]
  ])("refuses %j", (raw) => {
    expect(Option.isNone(parseIPv4Loose(raw))).toBe(true)
  })

  // Like browsers and IDNA, no length limit on a part: zero padding changes nothing, so the
  // ASCII and full-width spellings of one address agree.
  it("reads a zero-padded part of any length", () => {
    expect(Option.map(parseIPv4Loose("0x" + "0".repeat(40) + "7f000001"), (a) => Array.from(a.bytes))).toEqual(Option.some([127, 0, 0, 1]))
  })
})

describe("canonicalHost: names", () => {
  it.each([
    ["example.com", "example.com"],
    ["Example.COM", "example.com"],
    ["EXAMPLE.COM.", "example.com"],
    ["example.com.", "example.com"],
    ["a_b.example", "a_b.example"],
    ["1.example", "1.example"],
    ["localhost", "localhost"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"]
  ])("%j is %s", (raw, expected) => {
    const h = host(raw)
    expect(h).toEqual({ _tag: "Name", name: expected })
    expect(hostText(h)).toBe(expected)
  })

  it.each([["example.com.."], ["a..b"], [".example.com"], ["xn--"], ["xn--a.com"], ["."]])(
    "%j is bad-name",
    (raw) => {
      expect(hostError(raw).problem).toBe("bad-name")
    }
  )

  it("a 63-character label is accepted; 64 is bad-name", () => {
    expect(text(`${"a".repeat(63)}.com`)).toBe(`${"a".repeat(63)}.com`)
    expect(hostError(`${"a".repeat(64)}.com`).problem).toBe("bad-name")
  })

  it("a 253-character name is accepted; 254 is bad-name", () => {
    const label = "a".repeat(63)
    const name253 = `${label}.${label}.${label}.${"b".repeat(61)}`
    const name254 = `${label}.${label}.${label}.${"b".repeat(62)}`
    expect(name253.length).toBe(253)
    expect(name254.length).toBe(254)
    expect(text(name253)).toBe(name253)
    expect(text(`${name253}.`)).toBe(name253)
    expect(hostError(name254)).toEqual({ problem: "bad-name", detail: "the host is longer than 253 characters" })
  })
})

describe("canonicalHost: IDNA", () => {
  it.each([
    ["bücher.example", "xn--bcher-kva.example"],
    ["BÜCHER.example", "xn--bcher-kva.example"],
    ["bücher.example.", "xn--bcher-kva.example"],
    ["ｅｘａｍｐｌｅ.com", "example.com"],
    ["ＥＸＡＭＰＬＥ.ＣＯＭ", "example.com"],
    ["example。com", "example.com"],
    ["example．com", "example.com"],
    ["faß.de", "xn--fa-hia.de"]
  ])("%j is %s", (raw, expected) => {
    expect(host(raw)).toEqual({ _tag: "Name", name: expected })
  })

  it("the Cyrillic homograph аpple.com is its own punycode name, not apple.com", () => {
    expect(text("\u0430pple.com")).toBe("xn--pple-43d.com")
    expect(text("\u0430pple.com")).not.toBe(text("apple.com"))
  })

  it("full-width digits are an IPv4 address", () => {
    expect(host("１２７.０.０.１")).toEqual(host("127.0.0.1"))
    expect(host("１２７.０.０.１")._tag).toBe("Ip")
  })

  it("a lone surrogate is bad-name, not a crash", () => {
    expect(hostError("\ud800.com").problem).toBe("bad-name")
  })

  it("full-width brackets do not make an IPv6 literal", () => {
    expect(Either.isLeft(canonicalHost("［::1］"))).toBe(true)
  })
})

describe("canonicalHost: bracketed IPv6", () => {
  it.each([
    ["[::1]", "[::1]"],
    ["[0:0:0:0:0:0:0:1]", "[::1]"],
    ["[::]", "[::]"],
    ["[2001:DB8:0:0:0:0:0:1]", "[2001:db8::1]"],
    ["[2606:4700::1111]", "[2606:4700::1111]"],
    ["[64:ff9b::7f00:1]", "[64:ff9b::7f00:1]"],
    ["[64:ff9b::127.0.0.1]", "[64:ff9b::7f00:1]"],
    ["[::ffff:0:7f00:1]", "[::ffff:0:7f00:1]"],
    ["[2002:7f00:1::]", "[2002:7f00:1::]"],
    // IPv4-mapped and -compatible addresses are their IPv4 address
    ["[::ffff:127.0.0.1]", "127.0.0.1"],
    ["[::FFFF:7F00:1]", "127.0.0.1"],
    ["[::ffff:169.254.169.254]", "169.254.169.254"],
    ["[::7f00:1]", "127.0.0.1"],
    ["[::127.0.0.1]", "127.0.0.1"]
  ])("%s is %s", (raw, expected) => {
    const h = host(raw)
    expect(h._tag).toBe("Ip")
    expect(hostText(h)).toBe(expected)
  })

  it("[::ffff:127.0.0.1] is the IPv4 value, the same as 127.0.0.1", () => {
    expect(host("[::ffff:127.0.0.1]")).toEqual(host("127.0.0.1"))
  })

  it.each([
    ["[]"],
    ["[::1"],
    ["[::1]x"],
    ["[[::1]]"],
    ["[:::]"],
    ["[1.2.3.4]"],
    ["[127.1]"],
    ["[example.com]"],
    ["[1:2:3:4:5:6:7:8:9]"],
    ["[1.2.3.4::]"],
    ["[::1]:443"],
    ["[::1]@evil"],
    ["[ ::1]"]
  ])("%j is bad-ipv6", (raw) => {
    expect(hostError(raw).problem).toBe("bad-ipv6")
  })

  it.each([["[fe80::1%eth0]"], ["[fe80::1%25eth0]"], ["[::1%25]"]])("%j (zone id) is percent-encoding", (raw) => {
    expect(hostError(raw).problem).toBe("percent-encoding")
  })

  it.each([["::1"], ["2001:db8::1"], ["::ffff:127.0.0.1"], ["fe80::1"], ["1:2:3:4:5:6:7:8"]])(
    "unbracketed %j is bad-ipv6",
    (raw) => {
      expect(hostError(raw)).toEqual({
        problem: "bad-ipv6",
        detail: "an IPv6 host must be written in brackets, e.g. [2001:db8::1]"
      })
    }
  )
})

describe("canonicalHost: refused characters", () => {
  it.each([["user@host"], ["@host"], ["host@"]])("%j is userinfo", (raw) => {
    expect(hostError(raw).problem).toBe("userinfo")
  })

  it.each([["%31%32%37.0.0.1"], ["exa%6Dple.com"], ["example.com%00"], ["%"]])("%j is percent-encoding", (raw) => {
    expect(hostError(raw)).toEqual({ problem: "percent-encoding", detail: "percent-encoding is not allowed in a host" })
  })

  it.each([
    ["NUL", "exa\u0000mple.com"],
    ["CR", "example.com\r"],
    ["LF", "example.com\n"],
    ["CRLF", "example.com\r\nX-Injected"],
    ["tab", "exa\tmple.com"],
    ["space", "exa mple.com"],
    ["leading space", " example.com"],
    ["trailing space", "example.com "],
    ["DEL", "exa\u007Fmple.com"],
    ["NEL (C1)", "exa\u0085mple.com"],
    ["NBSP", "exa\u00A0mple.com"],
    ["soft hyphen", "exa\u00ADmple.com"],
    ["zero-width space", "exa\u200Bmple.com"],
    ["zero-width non-joiner", "exa\u200Cmple.com"],
    ["zero-width joiner", "exa\u200Dmple.com"],
    ["right-to-left override", "exa\u202Emple.com"],
    ["line separator", "exa\u2028mple.com"],
    ["ideographic space", "exa\u3000mple.com"],
    ["byte-order mark", "\uFEFFexample.com"],
    ["Mongolian vowel separator", "exa\u180Emple.com"],
    ["control in an IPv4 literal", "127.0.0.1\u0000"]
  ])("%s is control-or-space", (_, raw) => {
    expect(hostError(raw)).toEqual({
      problem: "control-or-space",
      detail: "the host contains a control, format or whitespace character"
    })
  })

  it.each(
    ["\\", "/", "?", "#", "*", "!", "$", "&", "'", "(", ")", "+", ",", ";", "=", "<", ">", "]", "^", "`", "{", "|", "}", "~", "\""].map(
      (c) => [c]
    )
  )("%j is forbidden-character", (c) => {
    expect(hostError(`exa${c}mple.com`)).toEqual({
      problem: "forbidden-character",
      detail: `the host contains the forbidden character ${JSON.stringify(c)}`
    })
  })

  it("a backslash is forbidden-character (WHATWG ends the host there for special schemes)", () => {
    expect(hostError("evil.com\\.example.com").problem).toBe("forbidden-character")
    expect(hostError("example.com\\").problem).toBe("forbidden-character")
  })

  it("an opening bracket that does not start the host is forbidden-character", () => {
    expect(hostError("a[b").problem).toBe("forbidden-character")
  })

  it("empty and too long", () => {
    expect(hostError("")).toEqual({ problem: "empty", detail: "the host is empty" })
    expect(hostError("a".repeat(301))).toEqual({ problem: "too-long", detail: "the host is longer than 300 characters" })
    expect(hostError("a".repeat(300)).problem).toBe("bad-name")
  })
})

describe("parseAuthority", () => {
  it.each([
    ["example.com:443", undefined, "example.com", 443],
    ["Example.COM.:8443", undefined, "example.com", 8443],
    ["example.com", 443, "example.com", 443],
    ["example.com", 80, "example.com", 80],
    ["example.com:", 443, "example.com", 443],
    ["example.com:1", undefined, "example.com", 1],
    ["example.com:65535", undefined, "example.com", 65535],
    ["127.1:80", undefined, "127.0.0.1", 80],
    ["0x7f.1:8080", undefined, "127.0.0.1", 8080],
    ["2130706433:22", undefined, "127.0.0.1", 22],
    ["bücher.example:443", undefined, "xn--bcher-kva.example", 443],
    ["[::1]:8080", undefined, "[::1]", 8080],
    ["[::1]", 443, "[::1]", 443],
    ["[::1]:", 443, "[::1]", 443],
    ["[::ffff:127.0.0.1]:443", undefined, "127.0.0.1", 443],
    ["[64:ff9b::7f00:1]:443", undefined, "[64:ff9b::7f00:1]", 443]
  ])("%j (default %s) is %s port %d", (raw, defaultPort, expectedHost, port) => {
    const a = authority(raw, defaultPort)
    expect(hostText(a.host)).toBe(expectedHost)
    expect(a.port).toBe(port)
    expect(authorityText(a)).toBe(`${expectedHost}:${port}`)
  })

  it.each([
    ["example.com", "missing-port"],
    ["example.com:", "missing-port"],
    ["[::1]", "missing-port"],
    ["[::1]:", "missing-port"],
    ["example.com:0", "bad-port"],
    ["example.com:65536", "bad-port"],
    ["example.com:99999", "bad-port"],
    ["example.com:123456", "bad-port"],
    ["example.com:+80", "bad-port"],
    ["example.com:-1", "bad-port"],
    ["example.com:8a", "bad-port"],
    ["example.com:0x50", "bad-port"],
    ["example.com: 80", "bad-port"],
    ["example.com:80 ", "bad-port"],
    ["example.com:８０", "bad-port"],
    ["example.com:1e3", "bad-port"],
    ["[::1]:0", "bad-port"],
    ["[::1]:80:90", "bad-port"],
    ["[::1]:http", "bad-port"],
    ["user@example.com", "userinfo"],
    ["user@example.com:443", "userinfo"],
    ["user:pw@example.com:443", "userinfo"],
    ["user:pw@host:443", "userinfo"],
    [":pw@example.com:443", "userinfo"],
    ["@example.com:443", "userinfo"],
    ["[::1]@evil.com:443", "userinfo"],
    ["example.com:443@evil.com", "userinfo"],
    ["%31%32%37.0.0.1:80", "percent-encoding"],
    ["[::1%25eth0]:443", "percent-encoding"],
    ["[fe80::1%eth0]:443", "percent-encoding"],
    ["::1:443", "bad-ipv6"],
    ["2001:db8::1:443", "bad-ipv6"],
    ["::1", "bad-ipv6"],
    ["[::1]80", "bad-ipv6"],
    ["[::1]]:80", "bad-ipv6"],
    ["[::1:443", "bad-ipv6"],
    ["[1.2.3.4]:443", "bad-ipv6"],
    ["example.com\r\n:443", "control-or-space"],
    ["exa\tmple.com:443", "control-or-space"],
    ["example.com\\:443", "forbidden-character"],
    [":443", "empty"],
    ["", "empty"],
    ["example.com..:443", "bad-name"]
  ])("%j without a default port is %s", (raw, problem) => {
    expect(authorityError(raw, undefined).problem).toBe(problem)
  })

  it.each([
    ["example.com:0", "bad-port"],
    ["example.com:65536", "bad-port"],
    ["example.com:+80", "bad-port"],
    ["example.com:8a", "bad-port"],
    ["user:pw@example.com:443", "userinfo"],
    ["user@example.com", "userinfo"]
  ])("%j with default 443 is still %s", (raw, problem) => {
    expect(authorityError(raw, 443).problem).toBe(problem)
  })

  it("missing-port and bad-port details", () => {
    expect(authorityError("example.com", undefined)).toEqual({
      problem: "missing-port",
      detail: "the authority needs an explicit port, e.g. example.com:443"
    })
    expect(authorityError("example.com:0", undefined)).toEqual({
      problem: "bad-port",
      detail: "the port must be a number from 1 to 65535"
    })
    expect(authorityError("user@example.com", 443)).toEqual({
      problem: "userinfo",
      detail: "userinfo (user@host) is not allowed in an authority"
    })
  })

  it("too long", () => {
    expect(authorityError(`${"a".repeat(297)}:443`, undefined)).toEqual({
      problem: "too-long",
      detail: "the authority is longer than 300 characters"
    })
  })
})

describe("hostText / authorityText / sameAuthority", () => {
  it("hostText brackets IPv6 only", () => {
    expect(hostText({ _tag: "Name", name: "example.com" })).toBe("example.com")
    expect(hostText({ _tag: "Ip", address: { family: 4, bytes: Uint8Array.of(10, 0, 0, 1) } })).toBe("10.0.0.1")
    expect(hostText({ _tag: "Ip", address: { family: 6, bytes: new Uint8Array(16) } })).toBe("[::]")
  })

  it.each([
    ["EXAMPLE.com:443", "example.com.:443"],
    ["bücher.example:443", "xn--bcher-kva.example:443"],
    ["0x7f.1:80", "127.0.0.1:80"],
    ["2130706433:80", "127.1:80"],
    ["[::ffff:127.0.0.1]:80", "127.0.0.1:80"],
    ["[0:0::1]:80", "[::1]:80"],
    ["１２７.０.０.１:80", "127.0.0.1:80"]
  ])("%j and %j are the same authority", (a, b) => {
    expect(sameAuthority(authority(a, undefined), authority(b, undefined))).toBe(true)
  })

  it.each([
    ["example.com:443", "example.com:8443"],
    ["example.com:443", "www.example.com:443"],
    ["\u0430pple.com:443", "apple.com:443"],
    ["[64:ff9b::7f00:1]:80", "127.0.0.1:80"],
    ["[::1]:80", "127.0.0.1:80"]
  ])("%j and %j differ", (a, b) => {
    expect(sameAuthority(authority(a, undefined), authority(b, undefined))).toBe(false)
  })

})

describe("properties", () => {
  const fragments = fc.constantFrom(
    "a", "Z", "0", "1", "7", "9", "f", "0x", "0X", "127", "255", "256", "4294967296", ".", "..", "。", "．", "-", "_",
    ":", "::", "[", "]", "%", "%25", "@", "\\", "/", " ", "\t", "\r\n", "\u0000", "\u200D", "\u00A0", "\u00AD",
    "ü", "ß", "\u0430", "１", "ｘ", "xn--", "xn--bcher-kva", "ffff", "64:ff9b", "\ud800", "\u{1F600}", "İ", "K"
  )
  const arbHostish = fc.array(fragments, { maxLength: 12 }).map((parts) => parts.join(""))
  const arbRaw = fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.string({ unit: "binary-ascii", maxLength: 40 }),
    arbHostish,
    arbHostish.map((h) => `[${h}]`)
  )

  it("canonicalHost never throws, and every success re-canonicalises to itself", () => {
    fc.assert(
      fc.property(arbRaw, (raw) => {
        const result = canonicalHost(raw)
        if (Either.isLeft(result)) return
        const once = hostText(result.right)
        const again = canonicalHost(once)
        expect(Either.isRight(again) && hostText(again.right)).toBe(once)
        if (Either.isRight(again)) expect(again.right).toEqual(result.right)
      }),
      { numRuns: 5000 }
    )
  })

  it("parseAuthority never throws, and every success re-parses to itself", () => {
    const arbAuthority = fc.oneof(
      arbRaw,
      fc.tuple(arbRaw, fc.oneof(fc.integer({ min: -1, max: 70000 }).map(String), fc.string({ maxLength: 6 }))).map(
        ([h, p]) => `${h}:${p}`
      )
    )
    fc.assert(
      fc.property(arbAuthority, fc.constantFrom(undefined, 80, 443), (raw, defaultPort) => {
        const result = parseAuthority(raw, defaultPort)
        if (Either.isLeft(result)) return
        const again = parseAuthority(authorityText(result.right), undefined)
        expect(Either.isRight(again) && authorityText(again.right)).toBe(authorityText(result.right))
      }),
      { numRuns: 5000 }
    )
  })

  it("a host spelled in full-width characters (the IDNA path) canonicalises exactly like its ASCII spelling", () => {
    const fullWidth = (ascii: string): string =>
      Array.from(ascii, (c) => (c >= "!" && c <= "~" ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join("")
    const arbAscii = fc
      .array(fc.constantFrom("a", "b", "x", "z", "0", "1", "7", "8", "9", "f", "0x", "127", "255", "256", ".", "-", "_"), {
        minLength: 1,
        maxLength: 10
      })
      .map((parts) => parts.join(""))
    fc.assert(
      fc.property(arbAscii, fc.boolean(), (ascii, upper) => {
        const plain = canonicalHost(upper ? ascii.toUpperCase() : ascii)
        const wide = canonicalHost(fullWidth(upper ? ascii.toUpperCase() : ascii))
        const show = (r: typeof plain) => (Either.isRight(r) ? hostText(r.right) : "refused")
        expect(show(wide)).toBe(show(plain))
      }),
      { numRuns: 3000 }
    )
  })

  it("every inet_aton spelling of an IPv4 address canonicalises to its dotted quad", () => {
    type Radix = "dec" | "oct" | "hex" | "HEX"
    const spell = (n: number, radix: Radix, zeros: number): string => {
      switch (radix) {
        case "dec":
          return n.toString(10)
        case "oct":
          return `0${"0".repeat(zeros)}${n.toString(8)}`
        case "hex":
          return `0x${"0".repeat(zeros)}${n.toString(16)}`
        case "HEX":
          return `0X${"0".repeat(zeros)}${n.toString(16).toUpperCase()}`
      }
    }
    const arbRadix = fc.constantFrom<Radix>("dec", "oct", "hex", "HEX")
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.tuple(arbRadix, fc.integer({ min: 0, max: 3 })), { minLength: 4, maxLength: 4 }),
        fc.boolean(),
        (bytes, partCount, radices, trailingDot) => {
          const value = ((bytes[0]! << 24) >>> 0) + (bytes[1]! << 16) + (bytes[2]! << 8) + bytes[3]!
          const leading = Array.from(bytes.subarray(0, partCount - 1))
          const rest = value % 256 ** (4 - (partCount - 1))
          const numbers = [...leading, rest]
          const raw = numbers.map((n, i) => spell(n, radices[i]![0], radices[i]![1])).join(".") + (trailingDot ? "." : "")
          const h = host(raw)
          expect(h._tag).toBe("Ip")
          expect(hostText(h)).toBe(formatIPv4(bytes))
        }
      ),
      { numRuns: 3000 }
    )
  })

  it("every bracketed spelling of an IPv6 address canonicalises like the address", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (bytes, upper) => {
        const words = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!).toString(16))
        const spelled = words.join(":")
        const h = host(`[${upper ? spelled.toUpperCase() : spelled}]`)
        const expected = canonicalAddress({ family: 6, bytes })
        expect(h).toEqual({ _tag: "Ip", address: expected })
        expect(hostText(h)).toBe(expected.family === 6 ? `[${formatAddress(expected)}]` : formatAddress(expected))
      }),
      { numRuns: 2000 }
    )
  })
})

import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import fc from "fast-check"
import { type Address, formatAddress, formatCidr, parseAddress } from "../../src/egress/Address.js"
import {
  compile,
  decideAddress,
  decideAddresses,
  decideHost,
  defaultPort,
  type EgressPolicy,
  type HostVerdict,
  InvalidEgressPolicy,
  type Mode
} from "../../src/egress/EgressPolicy.js"
import { parseAuthority } from "../../src/egress/Host.js"
import type { NetworkPolicy } from "../../src/protocol/Network.js"

const compiled = (policy: NetworkPolicy): EgressPolicy => {
  const result = compile(policy)
  if (Either.isLeft(result)) throw new Error(`expected the policy to compile, got: ${result.left.message}`)
  return result.right
}

const refused = (policy: NetworkPolicy): InvalidEgressPolicy => {
  const result = compile(policy)
  if (Either.isRight(result)) throw new Error(`expected the policy to be refused: ${JSON.stringify(policy)}`)
  return result.left
}

const hostEntry = (entry: string): InvalidEgressPolicy => refused({ defaultDeny: true, allowHosts: [entry] })
const addressEntry = (entry: string): InvalidEgressPolicy =>
  refused({ defaultDeny: true, allowHosts: [], allowAddresses: [entry] })

const blocks = (entries: ReadonlyArray<string>): Array<string> =>
  compiled({ defaultDeny: true, allowHosts: [], allowAddresses: entries }).allowAddresses.map(formatCidr)

const addr = (text: string): Address =>
  Option.getOrThrowWith(parseAddress(text), () => new Error(`bad address literal in test: ${text}`))

/** A request as the proxy reads it: the port defaults by mode. */
const ask = (policy: EgressPolicy, raw: string, mode: Mode): HostVerdict => {
  const request = parseAuthority(raw, defaultPort(mode))
  if (Either.isLeft(request)) throw new Error(`bad request authority in test: ${raw}`)
  return decideHost(policy, request.right, mode)
}

describe("compile: allowHosts", () => {
  it("compiles entries to canonical rules, keeping the source text", () => {
    const policy = compiled({
      defaultDeny: true,
      allowHosts: [
        "example.com",
        "Mixed.Case.COM.",
        "*.example.org",
        "api.example.net:8443",
        "bücher.example",
        "0x7f.1:8080",
        "[::1]:8080",
        "[::ffff:10.0.0.1]",
        "*.co.uk"
      ]
    })
    expect(policy).toEqual({
      defaultDeny: true,
      allowAddresses: [],
      rules: [
        { source: "example.com", host: "example.com", wildcard: false, port: undefined },
        { source: "Mixed.Case.COM.", host: "mixed.case.com", wildcard: false, port: undefined },
        { source: "*.example.org", host: "example.org", wildcard: true, port: undefined },
        { source: "api.example.net:8443", host: "api.example.net", wildcard: false, port: 8443 },
        { source: "bücher.example", host: "xn--bcher-kva.example", wildcard: false, port: undefined },
        { source: "0x7f.1:8080", host: "127.0.0.1", wildcard: false, port: 8080 },
        { source: "[::1]:8080", host: "[::1]", wildcard: false, port: 8080 },
        { source: "[::ffff:10.0.0.1]", host: "10.0.0.1", wildcard: false, port: undefined },
        { source: "*.co.uk", host: "co.uk", wildcard: true, port: undefined }
      ]
    })
  })

  it("an empty allowlist compiles", () => {
    expect(compiled({ defaultDeny: true, allowHosts: [] })).toEqual({ defaultDeny: true, rules: [], allowAddresses: [] })
  })

  it.each([
    ["*.com", "a wildcard over a single label (a whole top-level domain) is too broad"],
    ["*.com.", "a wildcard over a single label (a whole top-level domain) is too broad"],
    ["*.COM", "a wildcard over a single label (a whole top-level domain) is too broad"],
    ["*.localhost:8080", "a wildcard over a single label (a whole top-level domain) is too broad"],
    ["*", "a wildcard may only be a leading '*.' label, as in *.example.com"],
    ["*:443", "a wildcard may only be a leading '*.' label, as in *.example.com"],
    ["a.*.com", "a wildcard may only be a leading '*.' label, as in *.example.com"],
    ["*.*.example.com", "a wildcard may only be a leading '*.' label, as in *.example.com"],
    ["*example.com", "a wildcard may only be a leading '*.' label, as in *.example.com"],
    ["example.*", "a wildcard may only be a leading '*.' label, as in *.example.com"],
    ["*.127.0.0.1", "a wildcard cannot cover an IP address"],
    ["*.0.1", "a wildcard cannot cover an IP address"],
    ["*.[::1]", "a wildcard cannot cover an IP address"],
    ["*.[::1]:443", "a wildcard cannot cover an IP address"],
    ["::1", "an IPv6 host must be written in brackets, e.g. [2001:db8::1]"],
    ["2001:db8::1", "an IPv6 host must be written in brackets, e.g. [2001:db8::1]"],
    ["user@example.com", "userinfo (user@host) is not allowed in an authority"],
    ["example.com:0", "the port must be a number from 1 to 65535"],
    ["example.com:65536", "the port must be a number from 1 to 65535"],
    ["example.com:https", "the port must be a number from 1 to 65535"],
    ["%65xample.com", "percent-encoding is not allowed in a host"],
    ["example.com..", "each label of a host must be 1–63 letters, digits, '-' or '_'"],
    ["[1.2.3.4]", "the bracketed host is not a valid IPv6 address"],
    ["exa mple.com", "the host contains a control, format or whitespace character"]
  ])("refuses %j: %s", (entry, reason) => {
    const error = hostEntry(entry)
    expect(error).toBeInstanceOf(InvalidEgressPolicy)
    expect(error._tag).toBe("InvalidEgressPolicy")
    expect(error.field).toBe("allowHosts")
    expect(error.entry).toBe(entry)
    expect(error.reason).toBe(reason)
    expect(error.message).toBe(`invalid allowHosts entry ${JSON.stringify(entry)}: ${reason}`)
  })

  it("a bad entry among good ones is named", () => {
    const error = refused({ defaultDeny: true, allowHosts: ["example.com", "*.com", "example.org"] })
    expect(error.entry).toBe("*.com")
    expect(error.message).toContain('"*.com"')
  })

  it("a bad allowHosts entry is reported before a bad allowAddresses entry", () => {
    const error = refused({ defaultDeny: true, allowHosts: ["*"], allowAddresses: ["10.0.0.1/8"] })
    expect(error.field).toBe("allowHosts")
    expect(error.entry).toBe("*")
  })
})

describe("compile: allowAddresses", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1/32"],
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["172.16.0.0/12", "172.16.0.0/12"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["fd00::/8", "fd00::/8"],
    ["FD00::/8", "fd00::/8"],
    ["::1", "::1/128"],
    ["[::1]", "::1/128"],
    ["[fd00::]/8", "fd00::/8"],
    ["2001:db8:0:0::/64", "2001:db8::/64"],
    ["::/0", "::/0"],
    // IPv4-mapped and -compatible entries become the IPv4 block the proxy compares against
    ["::ffff:127.0.0.1", "127.0.0.1/32"],
    ["[::ffff:127.0.0.1]", "127.0.0.1/32"],
    ["::ffff:127.0.0.0/104", "127.0.0.0/8"],
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["::7f00:1", "127.0.0.1/32"],
    // NAT64 stays IPv6
    ["64:ff9b::7f00:1", "64:ff9b::7f00:1/128"]
  ])("%j compiles to %s", (entry, block) => {
    expect(blocks([entry])).toEqual([block])
  })

  it("::ffff:127.0.0.1 compiles to the IPv4 block, family 4", () => {
    const [block] = compiled({ defaultDeny: true, allowHosts: [], allowAddresses: ["::ffff:127.0.0.1"] }).allowAddresses
    expect(block!.address.family).toBe(4)
    expect(Array.from(block!.address.bytes)).toEqual([127, 0, 0, 1])
    expect(block!.prefix).toBe(32)
  })

  it("allowAddresses may be omitted", () => {
    expect(compiled({ defaultDeny: false, allowHosts: [] }).allowAddresses).toEqual([])
  })

  it.each([
    ["10.0.0.1/8", "host bits are set beyond /8; write the network address of the block"],
    ["192.168.1.1/16", "host bits are set beyond /16; write the network address of the block"],
    ["172.16.0.0/11", "host bits are set beyond /11; write the network address of the block"],
    ["fd00::1/8", "host bits are set beyond /8; write the network address of the block"],
    ["::ffff:127.0.0.1/104", "host bits are set beyond /8; write the network address of the block"],
    ["::ffff:0:0/80", "an IPv4-mapped block must have a prefix of at least 96"],
    ["10.0.0.0/33", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["::/129", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["0x7f.1", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["127.1", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["2130706433", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["localhost", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["10.0.0.0/08", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["[::1", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["fe80::1%eth0", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"],
    ["10.0.0.0/8 ", "expected an IP address or CIDR such as 127.0.0.1, 10.0.0.0/8 or fd00::/8"]
  ])("refuses %j: %s", (entry, reason) => {
    const error = addressEntry(entry)
    expect(error).toBeInstanceOf(InvalidEgressPolicy)
    expect(error.field).toBe("allowAddresses")
    expect(error.entry).toBe(entry)
    expect(error.reason).toBe(reason)
    expect(error.message).toBe(`invalid allowAddresses entry ${JSON.stringify(entry)}: ${reason}`)
  })
})

describe("defaultPort", () => {
  it("is 443 for connect and 80 for http", () => {
    expect(defaultPort("connect")).toBe(443)
    expect(defaultPort("http")).toBe(80)
  })
})

describe("decideHost", () => {
  const policy = compiled({
    defaultDeny: true,
    allowHosts: [
      "example.com",
      "*.example.org",
      "api.example.net:8443",
      "bücher.example",
      "0x7f.1:8080",
      "[::1]:9000",
      "Mixed.Case.COM.",
      "multi.example:443",
      "multi.example:8443",
      "apple.com"
    ]
  })

  it.each([
    ["example.com", "connect", "example.com"],
    ["example.com:443", "connect", "example.com"],
    ["example.com", "http", "example.com"],
    ["example.com:80", "http", "example.com"],
    ["EXAMPLE.COM.", "connect", "example.com"],
    ["Example.Com:443", "connect", "example.com"],
    ["ｅｘａｍｐｌｅ.com", "connect", "example.com"],
    ["a.example.org", "connect", "*.example.org"],
    ["A.EXAMPLE.ORG.", "connect", "*.example.org"],
    ["deep.sub.domain.example.org", "connect", "*.example.org"],
    ["a.example.org", "http", "*.example.org"],
    ["api.example.net:8443", "connect", "api.example.net:8443"],
    ["api.example.net:8443", "http", "api.example.net:8443"],
    ["xn--bcher-kva.example", "connect", "bücher.example"],
    ["bücher.example", "connect", "bücher.example"],
    ["BÜCHER.EXAMPLE", "connect", "bücher.example"],
    ["127.0.0.1:8080", "connect", "0x7f.1:8080"],
    ["2130706433:8080", "connect", "0x7f.1:8080"],
    ["[::ffff:127.0.0.1]:8080", "http", "0x7f.1:8080"],
    ["[::1]:9000", "connect", "[::1]:9000"],
    ["[0:0:0:0:0:0:0:1]:9000", "connect", "[::1]:9000"],
    ["mixed.case.com", "connect", "Mixed.Case.COM."],
    ["multi.example:443", "connect", "multi.example:443"],
    ["multi.example:8443", "connect", "multi.example:8443"]
  ])("%j via %s is allowed by %j", (raw, mode, rule) => {
    expect(ask(policy, raw, mode as Mode)).toEqual({ allowed: true, reason: "allowlisted", rule })
  })

  it.each([
    ["example.org", "connect"],
    ["example.org.", "connect"],
    ["badexample.org", "connect"],
    ["example.org.evil.com", "connect"],
    ["a.example.org.evil.com", "connect"],
    ["www.example.com", "connect"],
    ["example.co", "connect"],
    ["\u0430pple.com", "connect"],
    ["127.0.0.2:8080", "connect"],
    ["[::2]:9000", "connect"],
    ["[64:ff9b::7f00:1]:8080", "connect"]
  ])("%j via %s is not-allowlisted", (raw, mode) => {
    const verdict = ask(policy, raw, mode as Mode)
    expect(verdict.allowed).toBe(false)
    expect(verdict.reason).toBe("not-allowlisted")
  })

  it("the not-allowlisted detail names the canonical host", () => {
    expect(ask(policy, "WWW.Example.COM.", "connect")).toEqual({
      allowed: false,
      reason: "not-allowlisted",
      detail: "www.example.com is not in the allowlist"
    })
    expect(ask(policy, "\u0430pple.com", "connect")).toEqual({
      allowed: false,
      reason: "not-allowlisted",
      detail: "xn--pple-43d.com is not in the allowlist"
    })
  })

  it.each([
    ["example.com:80", "connect", "port 80 is not allowed for example.com (allowed: 443)"],
    ["example.com:443", "http", "port 443 is not allowed for example.com (allowed: 80)"],
    ["example.com:8443", "connect", "port 8443 is not allowed for example.com (allowed: 443)"],
    ["a.example.org:80", "connect", "port 80 is not allowed for a.example.org (allowed: 443)"],
    ["api.example.net", "connect", "port 443 is not allowed for api.example.net (allowed: 8443)"],
    ["api.example.net:443", "connect", "port 443 is not allowed for api.example.net (allowed: 8443)"],
    ["127.0.0.1:443", "connect", "port 443 is not allowed for 127.0.0.1 (allowed: 8080)"],
    ["[::1]:443", "connect", "port 443 is not allowed for [::1] (allowed: 9000)"],
    ["multi.example:80", "connect", "port 80 is not allowed for multi.example (allowed: 443, 8443)"],
    ["multi.example:80", "http", "port 80 is not allowed for multi.example (allowed: 443, 8443)"]
  ])("%j via %s is port-not-allowed", (raw, mode, detail) => {
    expect(ask(policy, raw, mode as Mode)).toEqual({ allowed: false, reason: "port-not-allowed", detail })
  })

  it("a wildcard does not cover its apex unless the apex is listed too", () => {
    const both = compiled({ defaultDeny: true, allowHosts: ["*.example.org", "example.org"] })
    expect(ask(both, "example.org", "connect")).toEqual({ allowed: true, reason: "allowlisted", rule: "example.org" })
    expect(ask(both, "x.example.org", "connect")).toEqual({ allowed: true, reason: "allowlisted", rule: "*.example.org" })
  })

  it("an explicit :443 entry serves plain HTTP on 443 but not on 80", () => {
    const explicit = compiled({ defaultDeny: true, allowHosts: ["example.com:443"] })
    expect(ask(explicit, "example.com:443", "http")).toEqual({
      allowed: true,
      reason: "allowlisted",
      rule: "example.com:443"
    })
    expect(ask(explicit, "example.com", "http").reason).toBe("port-not-allowed")
  })

  it.each([
    ["anything.example", "connect"],
    ["127.0.0.1:22", "connect"],
    ["169.254.169.254", "http"],
    ["[::1]:1", "connect"]
  ])("with defaultDeny false %j via %s is default-allow", (raw, mode) => {
    const open = compiled({ defaultDeny: false, allowHosts: [] })
    expect(ask(open, raw, mode as Mode)).toEqual({ allowed: true, reason: "default-allow" })
  })

  it("with an empty allowlist and defaultDeny every host is not-allowlisted", () => {
    const closed = compiled({ defaultDeny: true, allowHosts: [] })
    expect(ask(closed, "example.com", "connect").reason).toBe("not-allowlisted")
  })

  it("property: a request for any spelling of an allowlisted IPv4 entry matches it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 65535 }), (n, port) => {
        const dotted = [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".")
        const p = compiled({ defaultDeny: true, allowHosts: [`0x${n.toString(16)}:${port}`] })
        expect(ask(p, `${dotted}:${port}`, "connect")).toEqual({
          allowed: true,
          reason: "allowlisted",
          rule: `0x${n.toString(16)}:${port}`
        })
        expect(ask(p, `${n}:${port}`, "http").allowed).toBe(true)
      }),
      { numRuns: 500 }
    )
  })
})

describe("decideAddress", () => {
  const deny = compiled({ defaultDeny: true, allowHosts: [] })
  const open = compiled({ defaultDeny: false, allowHosts: [] })
  const withAllow = (entries: ReadonlyArray<string>, defaultDeny = true) =>
    compiled({ defaultDeny, allowHosts: [], allowAddresses: entries })

  it.each([["93.184.215.14"], ["8.8.8.8"], ["2606:4700::1111"], ["64:ff9b::8.8.8.8"]])(
    "public %s is allowed, not explicitly",
    (text) => {
      const verdict = decideAddress(deny, addr(text))
      expect(verdict.allowed).toBe(true)
      expect(verdict.allowed && verdict.explicit).toBe(false)
      expect(formatAddress(verdict.address)).toBe(formatAddress(addr(text)))
    }
  )

  it("a mapped public address is allowed and reported as its IPv4 address", () => {
    const verdict = decideAddress(deny, addr("::ffff:93.184.215.14"))
    expect(verdict.allowed).toBe(true)
    expect(verdict.address.family).toBe(4)
    expect(formatAddress(verdict.address)).toBe("93.184.215.14")
  })

  it.each([
    ["127.0.0.1", "loopback", "127.0.0.0/8", undefined],
    ["::1", "loopback", "::1/128", undefined],
    ["10.0.0.1", "private", "10.0.0.0/8", undefined],
    ["192.168.1.1", "private", "192.168.0.0/16", undefined],
    ["169.254.1.1", "link-local", "169.254.0.0/16", undefined],
    ["fc00::1", "unique-local", "fc00::/7", undefined],
    ["0.0.0.0", "unspecified", "0.0.0.0/8", undefined],
    ["::", "unspecified", "::/128", undefined],
    ["169.254.169.254", "metadata", "169.254.169.254/32", undefined],
    ["64:ff9b::7f00:1", "loopback", "127.0.0.0/8", "nat64"],
    ["2002:a00:1::", "private", "10.0.0.0/8", "6to4"]
  ])("%s is refused under defaultDeny as %s", (text, kind, range, embeddedIn) => {
    const verdict = decideAddress(deny, addr(text))
    expect(verdict).toEqual({
      allowed: false,
      address: addr(text),
      refusal: embeddedIn === undefined ? { kind, range } : { kind, range, embeddedIn }
    })
  })

  it.each([
    ["::ffff:10.0.0.1", "10.0.0.1", "private", "10.0.0.0/8"],
    ["::ffff:127.0.0.1", "127.0.0.1", "loopback", "127.0.0.0/8"],
    ["::7f00:1", "127.0.0.1", "loopback", "127.0.0.0/8"],
    ["::ffff:169.254.169.254", "169.254.169.254", "metadata", "169.254.169.254/32"]
  ])("mapped/compatible %s is refused as the IPv4 %s (%s)", (text, v4, kind, range) => {
    const verdict = decideAddress(deny, addr(text))
    expect(verdict).toEqual({ allowed: false, address: addr(v4), refusal: { kind, range } })
  })

  it("loopback is allowed, explicitly, when allowAddresses covers it", () => {
    const policy = withAllow(["127.0.0.1"])
    expect(decideAddress(policy, addr("127.0.0.1"))).toEqual({ allowed: true, address: addr("127.0.0.1"), explicit: true })
    expect(decideAddress(policy, addr("::ffff:127.0.0.1"))).toEqual({
      allowed: true,
      address: addr("127.0.0.1"),
      explicit: true
    })
    expect(decideAddress(policy, addr("127.0.0.2")).allowed).toBe(false)
    // IPv6 loopback is a different address
    expect(decideAddress(policy, addr("::1")).allowed).toBe(false)
  })

  it("a mapped allowAddresses entry covers the IPv4 address", () => {
    const policy = withAllow(["::ffff:127.0.0.1"])
    expect(decideAddress(policy, addr("127.0.0.1"))).toEqual({ allowed: true, address: addr("127.0.0.1"), explicit: true })
  })

  it("a private block in allowAddresses allows its addresses, mapped or not, and nothing else", () => {
    const policy = withAllow(["10.0.0.0/8", "fd00::/8", "[::1]"])
    expect(decideAddress(policy, addr("10.1.2.3"))).toEqual({ allowed: true, address: addr("10.1.2.3"), explicit: true })
    expect(decideAddress(policy, addr("::ffff:10.1.2.3"))).toEqual({
      allowed: true,
      address: addr("10.1.2.3"),
      explicit: true
    })
    expect(decideAddress(policy, addr("fd12::1"))).toEqual({ allowed: true, address: addr("fd12::1"), explicit: true })
    expect(decideAddress(policy, addr("::1"))).toEqual({ allowed: true, address: addr("::1"), explicit: true })
    expect(decideAddress(policy, addr("192.168.0.1")).allowed).toBe(false)
    expect(decideAddress(policy, addr("fc00::1")).allowed).toBe(false)
    expect(decideAddress(policy, addr("127.0.0.1")).allowed).toBe(false)
  })

  it("an IPv4 block does not cover the NAT64 form of its addresses (the gateway, not this host, dials it)", () => {
    const policy = withAllow(["127.0.0.0/8"])
    expect(decideAddress(policy, addr("64:ff9b::7f00:1"))).toEqual({
      allowed: false,
      address: addr("64:ff9b::7f00:1"),
      refusal: { kind: "loopback", range: "127.0.0.0/8", embeddedIn: "nat64" }
    })
  })

  it.each([
    ["169.254.169.254", "169.254.169.254/32", undefined],
    ["169.254.170.2", "169.254.170.2/32", undefined],
    ["100.100.100.200", "100.100.100.200/32", undefined],
    ["168.63.129.16", "168.63.129.16/32", undefined],
    ["192.0.0.192", "192.0.0.192/32", undefined],
    ["fd00:ec2::254", "fd00:ec2::254/128", undefined],
    ["64:ff9b::a9fe:a9fe", "169.254.169.254/32", "nat64"],
    ["2002:a9fe:a9fe::", "169.254.169.254/32", "6to4"]
  ])("metadata %s is refused even when defaultDeny is false", (text, range, embeddedIn) => {
    expect(decideAddress(open, addr(text))).toEqual({
      allowed: false,
      address: addr(text),
      refusal: embeddedIn === undefined ? { kind: "metadata", range } : { kind: "metadata", range, embeddedIn }
    })
  })

  it("mapped metadata is refused even when defaultDeny is false", () => {
    expect(decideAddress(open, addr("::ffff:169.254.169.254"))).toEqual({
      allowed: false,
      address: addr("169.254.169.254"),
      refusal: { kind: "metadata", range: "169.254.169.254/32" }
    })
  })

  // The EKS Pod Identity Agent's credential endpoints; see Ranges.test.ts.
  it.each([["169.254.170.23"], ["fd00:ec2::23"]])(
    "EKS Pod Identity credentials %s are refused even when defaultDeny is false",
    (text) => {
      expect(decideAddress(open, addr(text)).allowed).toBe(false)
    }
  )

  it.each([["10.0.0.1"], ["127.0.0.1"], ["::1"], ["fc00::1"], ["169.254.1.1"], ["::ffff:192.168.0.1"]])(
    "non-metadata special address %s is allowed when defaultDeny is false",
    (text) => {
      const verdict = decideAddress(open, addr(text))
      expect(verdict.allowed).toBe(true)
      expect(verdict.allowed && verdict.explicit).toBe(false)
    }
  )
})

type Refused = Extract<ReturnType<typeof decideAddress>, { allowed: false }>

const allowedOf = (result: Either.Either<Address, Refused>): string => {
  if (Either.isLeft(result)) throw new Error(`expected an allowed answer, got ${formatAddress(result.left.address)} refused`)
  return `${result.right.family}:${formatAddress(result.right)}`
}

const refusedOf = (result: Either.Either<Address, Refused>): Refused => {
  if (Either.isRight(result)) throw new Error(`expected a refused answer, got ${formatAddress(result.right)}`)
  return result.left
}

const v = (text: string): string => {
  const a = addr(text)
  return `${a.family}:${formatAddress(a)}`
}

describe("decideAddresses", () => {
  const deny = compiled({ defaultDeny: true, allowHosts: [] })
  const open = compiled({ defaultDeny: false, allowHosts: [] })
  const answers = (texts: ReadonlyArray<string>): readonly [Address, ...Array<Address>] => {
    const [first, ...rest] = texts.map(addr)
    return [first!, ...rest]
  }

  it("a single public answer is returned", () => {
    expect(allowedOf(decideAddresses(deny, answers(["93.184.215.14"])))).toBe(v("93.184.215.14"))
  })

  it("when every answer is allowed, the first is returned", () => {
    expect(allowedOf(decideAddresses(deny, answers(["93.184.215.14", "8.8.8.8", "2606:4700::1111"])))).toBe(
      v("93.184.215.14")
    )
    expect(allowedOf(decideAddresses(deny, answers(["2606:4700::1111", "93.184.215.14"])))).toBe(v("2606:4700::1111"))
  })

  it("the first answer is returned canonical (a mapped address as IPv4)", () => {
    expect(allowedOf(decideAddresses(deny, answers(["::ffff:93.184.215.14", "8.8.8.8"])))).toBe(v("93.184.215.14"))
  })

  it.each([
    [["93.184.215.14", "10.0.0.1"], "10.0.0.1", "private", "10.0.0.0/8"],
    [["10.0.0.1", "93.184.215.14"], "10.0.0.1", "private", "10.0.0.0/8"],
    [["93.184.215.14", "8.8.8.8", "127.0.0.1"], "127.0.0.1", "loopback", "127.0.0.0/8"],
    [["127.0.0.1", "10.0.0.1"], "127.0.0.1", "loopback", "127.0.0.0/8"],
    [["2606:4700::1111", "::1"], "::1", "loopback", "::1/128"],
    [["93.184.215.14", "::ffff:10.0.0.1"], "10.0.0.1", "private", "10.0.0.0/8"],
    [["93.184.215.14", "169.254.169.254"], "169.254.169.254", "metadata", "169.254.169.254/32"]
  ])("%j is refused, naming %s", (texts, address, kind, range) => {
    expect(refusedOf(decideAddresses(deny, answers(texts)))).toEqual({
      allowed: false,
      address: addr(address),
      refusal: { kind, range }
    })
  })

  it("a mixed answer with metadata is refused even when defaultDeny is false", () => {
    expect(refusedOf(decideAddresses(open, answers(["10.0.0.1", "169.254.169.254"])))).toEqual({
      allowed: false,
      address: addr("169.254.169.254"),
      refusal: { kind: "metadata", range: "169.254.169.254/32" }
    })
    expect(allowedOf(decideAddresses(open, answers(["10.0.0.1", "93.184.215.14"])))).toBe(v("10.0.0.1"))
  })

  it("an allowAddresses entry lets a mixed answer through only when it covers every refused address", () => {
    const policy = compiled({ defaultDeny: true, allowHosts: [], allowAddresses: ["10.0.0.0/8"] })
    expect(allowedOf(decideAddresses(policy, answers(["93.184.215.14", "10.0.0.1"])))).toBe(v("93.184.215.14"))
    expect(refusedOf(decideAddresses(policy, answers(["10.0.0.1", "192.168.0.1"])))).toEqual({
      allowed: false,
      address: addr("192.168.0.1"),
      refusal: { kind: "private", range: "192.168.0.0/16" }
    })
  })
})

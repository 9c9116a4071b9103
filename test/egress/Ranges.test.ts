import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import fc from "fast-check"
import { type Address, formatAddress, ipv4, parseAddress } from "../../src/egress/Address.js"
import { canonicalAddress, classify, embeddedIPv4, type Refusal } from "../../src/egress/Ranges.js"

const addr = (text: string): Address =>
  Option.getOrThrowWith(parseAddress(text), () => new Error(`bad address literal in test: ${text}`))

const refusalOf = (text: string): Refusal | null => Option.getOrNull(classify(addr(text)))

/** 16 bytes from a 12-byte prefix and an IPv4 address. */
const withSuffix = (prefix: ReadonlyArray<number>, v4: Uint8Array): Address => ({
  family: 6,
  bytes: Uint8Array.from([...prefix, ...v4])
})

const arbIPv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes): Address => ({ family: 4, bytes }))

describe("classify: every refused range", () => {
  it.each([
    // IPv4
    ["0.0.0.0", "unspecified", "0.0.0.0/8"],
    ["0.255.255.255", "unspecified", "0.0.0.0/8"],
    ["10.0.0.0", "private", "10.0.0.0/8"],
    ["10.255.255.255", "private", "10.0.0.0/8"],
    ["100.64.0.0", "shared", "100.64.0.0/10"],
    ["100.127.255.255", "shared", "100.64.0.0/10"],
    ["127.0.0.1", "loopback", "127.0.0.0/8"],
    ["127.255.255.254", "loopback", "127.0.0.0/8"],
    ["169.254.0.1", "link-local", "169.254.0.0/16"],
    ["169.254.169.253", "link-local", "169.254.0.0/16"],
    ["169.254.170.3", "link-local", "169.254.0.0/16"],
    ["169.254.255.255", "link-local", "169.254.0.0/16"],
    ["172.16.0.0", "private", "172.16.0.0/12"],
    ["172.31.255.255", "private", "172.16.0.0/12"],
    ["192.0.0.1", "reserved", "192.0.0.0/24"],
    ["192.0.0.191", "reserved", "192.0.0.0/24"],
    ["192.0.0.193", "reserved", "192.0.0.0/24"],
    ["192.0.2.1", "documentation", "192.0.2.0/24"],
    ["192.88.99.1", "reserved", "192.88.99.0/24"],
    ["192.168.0.1", "private", "192.168.0.0/16"],
    ["192.168.255.255", "private", "192.168.0.0/16"],
    ["198.18.0.1", "reserved", "198.18.0.0/15"],
    ["198.19.255.255", "reserved", "198.18.0.0/15"],
    ["198.51.100.7", "documentation", "198.51.100.0/24"],
    ["203.0.113.9", "documentation", "203.0.113.0/24"],
    ["224.0.0.1", "multicast", "224.0.0.0/4"],
    ["239.255.255.255", "multicast", "224.0.0.0/4"],
    ["240.0.0.1", "reserved", "240.0.0.0/4"],
    ["255.255.255.254", "reserved", "240.0.0.0/4"],
    ["255.255.255.255", "broadcast", "255.255.255.255/32"],
    ["100.100.100.201", "shared", "100.64.0.0/10"],
    // IPv6
    ["::", "unspecified", "::/128"],
    ["::1", "loopback", "::1/128"],
    ["100::1", "reserved", "100::/64"],
    ["100::ffff:ffff:ffff:ffff", "reserved", "100::/64"],
    ["2001:db8::1", "documentation", "2001:db8::/32"],
    ["2001:db8:ffff::1", "documentation", "2001:db8::/32"],
    ["64:ff9b:1::1", "private", "64:ff9b:1::/48"],
    ["64:ff9b:1:ffff::8.8.8.8", "private", "64:ff9b:1::/48"],
    ["fc00::1", "unique-local", "fc00::/7"],
    ["fdff:ffff::1", "unique-local", "fc00::/7"],
    ["fd00:ec2::253", "unique-local", "fc00::/7"],
    ["fe80::1", "link-local", "fe80::/10"],
    ["febf:ffff::1", "link-local", "fe80::/10"],
    ["fec0::1", "site-local", "fec0::/10"],
    ["feff::1", "site-local", "fec0::/10"],
    ["ff02::1", "multicast", "ff00::/8"],
    ["ff0e::1", "multicast", "ff00::/8"]
  ])("%s is %s (%s)", (text, kind, range) => {
    expect(refusalOf(text)).toEqual({ kind, range })
  })
})

describe("classify: cloud metadata addresses", () => {
  it.each([
    ["169.254.169.254", "169.254.169.254/32"],
    ["169.254.170.2", "169.254.170.2/32"],
    ["100.100.100.200", "100.100.100.200/32"],
    ["168.63.129.16", "168.63.129.16/32"],
    ["192.0.0.192", "192.0.0.192/32"],
    ["fd00:ec2::254", "fd00:ec2::254/128"],
    ["FD00:EC2:0:0:0:0:0:254", "fd00:ec2::254/128"]
  ])("%s is metadata", (text, range) => {
    expect(refusalOf(text)).toEqual({ kind: "metadata", range })
  })

  // AWS EKS Pod Identity Agent serves pod credentials on 169.254.170.23 and [fd00:ec2::23]
  // (docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html), the same kind of
  // endpoint as the ECS task-credentials address 169.254.170.2 the table already lists.
  // Without a metadata row they are only "link-local"/"unique-local", which
  // `defaultDeny: false` lets through.
  it.each([["169.254.170.23"], ["fd00:ec2::23"]])("%s (EKS Pod Identity credentials) is metadata", (text) => {
    expect(refusalOf(text)?.kind).toBe("metadata")
  })
})

describe("classify: ordinary public addresses", () => {
  it.each([
    ["93.184.215.14"],
    ["8.8.8.8"],
    ["1.1.1.1"],
    ["1.0.0.0"],
    ["9.255.255.255"],
    ["11.0.0.0"],
    ["100.63.255.255"],
    ["100.128.0.0"],
    ["126.255.255.255"],
    ["128.0.0.0"],
    ["168.63.129.17"],
    ["169.253.255.255"],
    ["169.255.0.0"],
    ["172.15.255.255"],
    ["172.32.0.0"],
    ["192.0.1.0"],
    ["192.167.255.255"],
    ["192.169.0.0"],
    ["198.17.255.255"],
    ["198.20.0.0"],
    ["223.255.255.255"],
    ["2606:4700::1111"],
    ["2001:4860:4860::8888"],
    ["2a00:1450:4001::1"],
    ["2001:db9::1"],
    ["64:ff9b::8.8.8.8"],
    ["64:ff9b:2::1"],
    ["::ffff:93.184.215.14"],
    ["::ffff:0:8.8.8.8"],
    ["2002:5db8:d70e::1"],
    ["2001:0:4136:e378:8000:63bf:f7f7:f7f7"],
    ["fbff:ffff::1"],
    ["100:0:0:1::"]
  ])("%s is not refused", (text) => {
    expect(refusalOf(text)).toBeNull()
  })
})

describe("classify: IPv4 carried inside IPv6", () => {
  it.each([
    // IPv4-mapped ::ffff:0:0/96
    ["::ffff:127.0.0.1", "loopback", "127.0.0.0/8", "ipv4-mapped"],
    ["::ffff:7f00:1", "loopback", "127.0.0.0/8", "ipv4-mapped"],
    ["::ffff:10.0.0.1", "private", "10.0.0.0/8", "ipv4-mapped"],
    ["::ffff:169.254.169.254", "metadata", "169.254.169.254/32", "ipv4-mapped"],
    ["::ffff:0.0.0.0", "unspecified", "0.0.0.0/8", "ipv4-mapped"],
    // IPv4-compatible ::/96
    ["::127.0.0.1", "loopback", "127.0.0.0/8", "ipv4-compatible"],
    ["::7f00:1", "loopback", "127.0.0.0/8", "ipv4-compatible"],
    ["::10.0.0.1", "private", "10.0.0.0/8", "ipv4-compatible"],
    ["::a9fe:a9fe", "metadata", "169.254.169.254/32", "ipv4-compatible"],
    ["::2", "unspecified", "0.0.0.0/8", "ipv4-compatible"],
    // IPv4-translated ::ffff:0:0:0/96 (SIIT)
    ["::ffff:0:127.0.0.1", "loopback", "127.0.0.0/8", "ipv4-translated"],
    ["::ffff:0:7f00:1", "loopback", "127.0.0.0/8", "ipv4-translated"],
    ["::ffff:0:a9fe:a9fe", "metadata", "169.254.169.254/32", "ipv4-translated"],
    // NAT64 well-known prefix 64:ff9b::/96
    ["64:ff9b::7f00:1", "loopback", "127.0.0.0/8", "nat64"],
    ["64:ff9b::127.0.0.1", "loopback", "127.0.0.0/8", "nat64"],
    ["64:ff9b::a9fe:a9fe", "metadata", "169.254.169.254/32", "nat64"],
    ["64:ff9b::a9fe:aa02", "metadata", "169.254.170.2/32", "nat64"],
    ["64:ff9b::10.0.0.1", "private", "10.0.0.0/8", "nat64"],
    ["64:ff9b::192.168.1.1", "private", "192.168.0.0/16", "nat64"],
    // 6to4 2002::/16, IPv4 in bytes 2–5
    ["2002:7f00:1::", "loopback", "127.0.0.0/8", "6to4"],
    ["2002:7f00:1:1234::5", "loopback", "127.0.0.0/8", "6to4"],
    ["2002:a9fe:a9fe::", "metadata", "169.254.169.254/32", "6to4"],
    ["2002:c0a8:101::", "private", "192.168.0.0/16", "6to4"],
    ["2002:a00:1::1", "private", "10.0.0.0/8", "6to4"],
    // Teredo 2001::/32: server in bytes 4–7 in the clear, client in bytes 12–15 inverted
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback", "127.0.0.0/8", "teredo"],
    ["2001:0:4136:e378:8000:63bf:5601:5601", "metadata", "169.254.169.254/32", "teredo"],
    ["2001:0:4136:e378:8000:63bf:f5ff:fffe", "private", "10.0.0.0/8", "teredo"],
    ["2001:0:7f00:1:8000:63bf:f7f7:f7f7", "loopback", "127.0.0.0/8", "teredo"],
    ["2001:0:a9fe:a9fe:8000:63bf:f7f7:f7f7", "metadata", "169.254.169.254/32", "teredo"]
  ])("%s is %s (%s) inside %s", (text, kind, range, embeddedIn) => {
    expect(refusalOf(text)).toEqual({ kind, range, embeddedIn })
  })

  it("the address's own range wins over an embedding (::1 is IPv6 loopback, not compatible 0.0.0.1)", () => {
    expect(refusalOf("::1")).toEqual({ kind: "loopback", range: "::1/128" })
    expect(refusalOf("::")).toEqual({ kind: "unspecified", range: "::/128" })
    expect(refusalOf("::0.0.0.1")).toEqual({ kind: "loopback", range: "::1/128" })
  })

  it("the Teredo server is checked before the client", () => {
    // server 127.0.0.1, client 10.0.0.1 (inverted f5ff:fffe)
    expect(refusalOf("2001:0:7f00:1::f5ff:fffe")).toEqual({ kind: "loopback", range: "127.0.0.0/8", embeddedIn: "teredo" })
  })

  it("property: an IPv4 address is refused exactly when its mapped, translated, NAT64 and 6to4 forms are, for the same reason", () => {
    fc.assert(
      fc.property(arbIPv4, (v4) => {
        const own = Option.getOrNull(classify(v4))
        const forms: ReadonlyArray<[Address, string]> = [
          [withSuffix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], v4.bytes), "ipv4-mapped"],
          [withSuffix([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0], v4.bytes), "ipv4-translated"],
          [withSuffix([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], v4.bytes), "nat64"],
          [{ family: 6, bytes: Uint8Array.from([0x20, 0x02, ...v4.bytes, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }, "6to4"]
        ]
        for (const [form, via] of forms) {
          expect(Option.getOrNull(classify(form))).toEqual(own === null ? null : { ...own, embeddedIn: via })
        }
      }),
      { numRuns: 3000 }
    )
  })

  it("property: an IPv4-compatible address is refused exactly when its IPv4 address is", () => {
    fc.assert(
      fc.property(arbIPv4, (v4) => {
        const compatible = withSuffix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], v4.bytes)
        expect(Option.isSome(classify(compatible))).toBe(Option.isSome(classify(v4)))
      }),
      { numRuns: 2000 }
    )
  })

  it("property: a Teredo address with a public server is refused exactly when its client is, for the same reason", () => {
    fc.assert(
      fc.property(arbIPv4, (client) => {
        const inverted = Array.from(client.bytes, (b) => b ^ 0xff)
        // server 65.54.227.120 (public)
        const teredo: Address = {
          family: 6,
          bytes: Uint8Array.from([0x20, 0x01, 0, 0, 65, 54, 227, 120, 0x80, 0, 0x63, 0xbf, ...inverted])
        }
        const own = Option.getOrNull(classify(client))
        expect(Option.getOrNull(classify(teredo))).toEqual(own === null ? null : { ...own, embeddedIn: "teredo" })
      }),
      { numRuns: 2000 }
    )
  })
})

describe("embeddedIPv4", () => {
  const embedded = (text: string) =>
    embeddedIPv4(addr(text)).map(({ address, via }) => ({ via, address: formatAddress(address) }))

  it.each([
    ["::ffff:1.2.3.4", [{ via: "ipv4-mapped", address: "1.2.3.4" }]],
    ["::1.2.3.4", [{ via: "ipv4-compatible", address: "1.2.3.4" }]],
    ["::ffff:0:1.2.3.4", [{ via: "ipv4-translated", address: "1.2.3.4" }]],
    ["64:ff9b::1.2.3.4", [{ via: "nat64", address: "1.2.3.4" }]],
    ["2002:102:304::", [{ via: "6to4", address: "1.2.3.4" }]],
    [
      "2001:0:4136:e378:8000:63bf:80ff:fffe",
      [
        { via: "teredo", address: "65.54.227.120" },
        { via: "teredo", address: "127.0.0.1" }
      ]
    ],
    ["::", []],
    ["::1", []],
    ["2606:4700::1111", []],
    ["64:ff9b:1::1.2.3.4", []],
    ["1.2.3.4", []]
  ])("%s carries %j", (text, expected) => {
    expect(embedded(text)).toEqual(expected)
  })
})

describe("canonicalAddress", () => {
  it.each([
    ["::ffff:1.2.3.4", 4, "1.2.3.4"],
    ["::ffff:127.0.0.1", 4, "127.0.0.1"],
    ["::FFFF:7F00:1", 4, "127.0.0.1"],
    ["::ffff:169.254.169.254", 4, "169.254.169.254"],
    ["::ffff:0.0.0.0", 4, "0.0.0.0"],
    ["::7f00:1", 4, "127.0.0.1"],
    ["::127.0.0.1", 4, "127.0.0.1"],
    ["::10.0.0.1", 4, "10.0.0.1"],
    ["::2", 4, "0.0.0.2"],
    ["::1", 6, "::1"],
    ["::", 6, "::"],
    ["::0.0.0.1", 6, "::1"],
    ["::ffff:0:7f00:1", 6, "::ffff:0:7f00:1"],
    ["64:ff9b::7f00:1", 6, "64:ff9b::7f00:1"],
    ["64:ff9b::a9fe:a9fe", 6, "64:ff9b::a9fe:a9fe"],
    ["2002:7f00:1::", 6, "2002:7f00:1::"],
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", 6, "2001:0:4136:e378:8000:63bf:80ff:fffe"],
    ["2001:db8::1", 6, "2001:db8::1"],
    ["fd00:ec2::254", 6, "fd00:ec2::254"],
    ["1.2.3.4", 4, "1.2.3.4"],
    ["127.0.0.1", 4, "127.0.0.1"]
  ])("%s → %s", (text, family, expected) => {
    const canonical = canonicalAddress(addr(text))
    expect(canonical.family).toBe(family)
    expect(formatAddress(canonical)).toBe(expected)
  })

  it("leaves an IPv4 address as the same value", () => {
    const address = ipv4(8, 8, 8, 8)
    expect(canonicalAddress(address)).toBe(address)
  })

  it("property: idempotent, and never changes whether or why an address is refused", () => {
    const arbAddress = fc.oneof(
      arbIPv4,
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes): Address => ({ family: 6, bytes })),
      arbIPv4.map((v4) => withSuffix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], v4.bytes)),
      arbIPv4.map((v4) => withSuffix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], v4.bytes))
    )
    fc.assert(
      fc.property(arbAddress, (address) => {
        const once = canonicalAddress(address)
        const twice = canonicalAddress(once)
        expect(twice.family).toBe(once.family)
        expect(formatAddress(twice)).toBe(formatAddress(once))
        expect(Option.isSome(classify(once))).toBe(Option.isSome(classify(address)))
      }),
      { numRuns: 3000 }
    )
  })
})

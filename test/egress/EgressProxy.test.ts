/**
 * The egress proxy against real loopback sockets: every request is written as exact bytes
 * by a raw client, and every test pins down the status the client saw and the decision
 * record the proxy made. Upstreams live on 127.0.0.1, so a policy reaches them only when it
 * lists the host and `allowAddresses: ["127.0.0.1"]`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Scope } from "effect"
import fc from "fast-check"
import { existsSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { EgressDecision } from "../../src/egress/EgressDecision.js"
import * as Resolver from "../../src/egress/Resolver.js"
import type { NetworkPolicy } from "../../src/protocol/Network.js"
import {
  collectDecisions,
  type Conn,
  connectRequest,
  drainDecisions,
  echoUpstream,
  fieldsOf,
  getRequest,
  httpUpstream,
  open,
  type ReceivedRequest,
  readBody,
  request,
  send,
  startProxy,
  tempDir
} from "./support/ProxyHarness.js"

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const LOOPBACK = ["127.0.0.1"]

/** Default deny; reaches loopback only when `addresses` lists it. */
const allow = (hosts: ReadonlyArray<string>, addresses: ReadonlyArray<string> = LOOPBACK): NetworkPolicy => ({
  defaultDeny: true,
  allowHosts: hosts,
  allowAddresses: addresses
})

/** The test names that resolve to the loopback upstreams. */
const names = Resolver.layerStatic({
  "up.test": ["127.0.0.1"],
  "a.up.test": ["127.0.0.1"],
  "x.b.a.up.test": ["127.0.0.1"],
  "evilup.test": ["127.0.0.1"],
  "apple.test": ["127.0.0.1"],
  "xn--pple-43d.test": ["127.0.0.1"],
  "private.test": ["10.0.0.5"],
  "mixed.test": ["93.184.215.14", "10.0.0.5"]
})

/** Values of one header (case-insensitive) in a raw header list. */
const headerValues = (raw: ReadonlyArray<string>, name: string): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!)
  return out
}

const echoed = (body: string): ReceivedRequest => JSON.parse(body) as ReceivedRequest

interface Expected {
  readonly kind: EgressDecision["kind"]
  readonly host: string
  readonly port?: number
  readonly decision: EgressDecision["decision"]
  readonly reason: EgressDecision["reason"]
  readonly resolvedAddress?: string
  readonly bytesUp?: number
  readonly bytesDown?: number
  readonly upstreamError?: string
}

/** Exactly these fields: any field not listed must be absent from the record. */
const expectRecord = (actual: EgressDecision, expected: Expected) => {
  expect(fieldsOf(actual)).toStrictEqual({
    kind: expected.kind,
    host: expected.host,
    port: expected.port,
    decision: expected.decision,
    reason: expected.reason,
    resolvedAddress: expected.resolvedAddress,
    bytesUp: expected.bytesUp,
    bytesDown: expected.bytesDown,
    upstreamError: expected.upstreamError
  })
}

/** A tunnel through `proxyPort` to `authority`; asserts the 200 and returns the connection. */
const tunnel = (proxyPort: number | { path: string }, authority: string) =>
  Effect.gen(function*() {
    const exchange = yield* send(proxyPort, connectRequest(authority))
    expect(exchange.statusLine).toBe("HTTP/1.1 200 Connection Established")
    return exchange.conn
  })

/** Writes `text` into a tunnel and reads exactly the same number of bytes back. */
const roundTrip = (conn: Conn, text: string) =>
  Effect.zipRight(conn.write(text), Effect.map(conn.readBytes(Buffer.byteLength(text)), (b) => b.toString("latin1")))

// ---------------------------------------------------------------------------------------------
// 1. Loopback spelled as an IP literal
// ---------------------------------------------------------------------------------------------

const LOOPBACK_SPELLINGS = [
  "2130706433",
  "0177.0.0.1",
  "0x7f.1",
  "127.1",
  "0x7f000001",
  "[::ffff:127.0.0.1]",
  "[::ffff:7f00:1]",
  "127.0.0.1."
]

describe("loopback spelled as an IP literal", () => {
  it.scopedLive.each(LOOPBACK_SPELLINGS)("CONNECT %s is address-refused without allowAddresses", (spelling) =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`127.0.0.1:${echo.port}`], []))
      const decisions = yield* collectDecisions(proxy)
      const authority = `${spelling}:${echo.port}`
      const response = yield* send(proxy.port, connectRequest(authority))
      expect(response.status).toBe(403)
      expect(response.headers["proxy-status"]).toMatch(/^warrant; error=destination_ip_prohibited; /)
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "127.0.0.1",
        port: echo.port,
        decision: "blocked",
        reason: "address-refused",
        resolvedAddress: "127.0.0.1"
      })
      yield* response.conn.waitClosed()
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive.each(LOOPBACK_SPELLINGS)("GET http://%s is address-refused without allowAddresses", (spelling) =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`127.0.0.1:${upstream.port}`], []))
      const decisions = yield* collectDecisions(proxy)
      const authority = `${spelling}:${upstream.port}`
      const response = yield* request(proxy.port, getRequest(`http://${authority}/`, authority))
      expect(response.status).toBe(403)
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "127.0.0.1",
        port: upstream.port,
        decision: "blocked",
        reason: "address-refused",
        resolvedAddress: "127.0.0.1"
      })
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive.each(["2130706433", "0x7f.1", "[::ffff:7f00:1]", "127.0.0.1."])(
    "GET http://%s reaches the upstream with allowAddresses 127.0.0.1",
    (spelling) =>
      Effect.gen(function*() {
        const upstream = yield* httpUpstream
        const proxy = yield* startProxy(allow([`127.0.0.1:${upstream.port}`]))
        const decisions = yield* collectDecisions(proxy)
        const authority = `${spelling}:${upstream.port}`
        const response = yield* request(proxy.port, getRequest(`http://${authority}/p?q=1`, authority))
        expect(response.status).toBe(200)
        const seen = echoed(response.body)
        expect(seen.method).toBe("GET")
        expect(seen.url).toBe("/p?q=1")
        expect(headerValues(seen.rawHeaders, "host")).toEqual([`127.0.0.1:${upstream.port}`])
        expectRecord(yield* decisions.next, {
          kind: "http",
          host: "127.0.0.1",
          port: upstream.port,
          decision: "allowed",
          reason: "allowlisted",
          resolvedAddress: "127.0.0.1",
          bytesUp: 0,
          bytesDown: Buffer.byteLength(response.body)
        })
      })
  )

  it.scopedLive.each(["0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"])(
    "CONNECT %s tunnels to the echo upstream with allowAddresses 127.0.0.1",
    (spelling) =>
      Effect.gen(function*() {
        const echo = yield* echoUpstream
        const proxy = yield* startProxy(allow([`127.0.0.1:${echo.port}`]))
        const decisions = yield* collectDecisions(proxy)
        const conn = yield* tunnel(proxy.port, `${spelling}:${echo.port}`)
        expect(yield* roundTrip(conn, "ping")).toBe("ping")
        yield* conn.end()
        yield* conn.waitClosed()
        expectRecord(yield* decisions.next, {
          kind: "connect",
          host: "127.0.0.1",
          port: echo.port,
          decision: "allowed",
          reason: "allowlisted",
          resolvedAddress: "127.0.0.1",
          bytesUp: 4,
          bytesDown: 4
        })
      })
  )

  it.scopedLive("CONNECT [::1] (IPv6 loopback) is address-refused with allowAddresses 127.0.0.1 only", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`[::1]:${echo.port}`]))
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest(`[::1]:${echo.port}`))
      expect(response.status).toBe(403)
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "[::1]",
        port: echo.port,
        decision: "blocked",
        reason: "address-refused",
        resolvedAddress: "::1"
      })
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive("0.0.0.0 and its short spelling 0 are refused as unspecified even with allowAddresses 127.0.0.1", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`0.0.0.0:${echo.port}`]))
      const decisions = yield* collectDecisions(proxy)
      for (const spelling of ["0.0.0.0", "0"]) {
        const response = yield* send(proxy.port, connectRequest(`${spelling}:${echo.port}`))
        expect(response.status).toBe(403)
        expectRecord(yield* decisions.next, {
          kind: "connect",
          host: "0.0.0.0",
          port: echo.port,
          decision: "blocked",
          reason: "address-refused",
          resolvedAddress: "0.0.0.0"
        })
      }
      expect(echo.accepted()).toBe(0)
    }))
})

// ---------------------------------------------------------------------------------------------
// 2. Cloud metadata, even under default allow
// ---------------------------------------------------------------------------------------------

const METADATA_SPELLINGS: ReadonlyArray<readonly [string, string, string]> = [
  ["169.254.169.254", "169.254.169.254", "169.254.169.254"],
  ["2852039166", "169.254.169.254", "169.254.169.254"],
  ["0xa9.0xfe.0xa9.0xfe", "169.254.169.254", "169.254.169.254"],
  ["0251.0376.0251.0376", "169.254.169.254", "169.254.169.254"],
  ["[::ffff:169.254.169.254]", "169.254.169.254", "169.254.169.254"],
  ["[64:ff9b::a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe"]
]

describe("the metadata address under defaultDeny: false", () => {
  const defaultAllow: NetworkPolicy = { defaultDeny: false, allowHosts: [] }

  it.scopedLive.each(METADATA_SPELLINGS)("CONNECT %s:80 is address-refused", ([spelling, host, resolved]) =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(defaultAllow)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest(`${spelling}:80`))
      expect(response.status).toBe(403)
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host,
        port: 80,
        decision: "blocked",
        reason: "address-refused",
        resolvedAddress: resolved
      })
    }))

  it.scopedLive.each(METADATA_SPELLINGS)("GET http://%s/ is address-refused", ([spelling, host, resolved]) =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(defaultAllow)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, getRequest(`http://${spelling}/latest/meta-data/`, spelling))
      expect(response.status).toBe(403)
      expect(response.body).toMatch(/^warrant egress: .* a metadata address in 169\.254\.169\.254\/32/)
      expectRecord(yield* decisions.next, {
        kind: "http",
        host,
        port: 80,
        decision: "blocked",
        reason: "address-refused",
        resolvedAddress: resolved
      })
    }))
})

// ---------------------------------------------------------------------------------------------
// 3–6. Host matching: wildcards, ports, spelling, IDNA
// ---------------------------------------------------------------------------------------------

describe("host matching", () => {
  it.scopedLive("a wildcard *.up.test:<port> allows a.up.test and a deeper name", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`*.up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      for (const name of ["a.up.test", "x.b.a.up.test"]) {
        const authority = `${name}:${upstream.port}`
        const response = yield* request(proxy.port, getRequest(`http://${authority}/`, authority))
        expect(response.status).toBe(200)
        expect(headerValues(echoed(response.body).rawHeaders, "host")).toEqual([authority])
        expectRecord(yield* decisions.next, {
          kind: "http",
          host: name,
          port: upstream.port,
          decision: "allowed",
          reason: "allowlisted",
          resolvedAddress: "127.0.0.1",
          bytesUp: 0,
          bytesDown: Buffer.byteLength(response.body)
        })
      }
      expect(upstream.requests.length).toBe(2)
    }))

  it.scopedLive("a wildcard *.up.test:<port> does not allow the apex up.test, nor evilup.test", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`*.up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      for (const name of ["up.test", "evilup.test"]) {
        const authority = `${name}:${upstream.port}`
        const response = yield* request(proxy.port, getRequest(`http://${authority}/`, authority))
        expect(response.status).toBe(403)
        expectRecord(yield* decisions.next, {
          kind: "http",
          host: name,
          port: upstream.port,
          decision: "blocked",
          reason: "not-allowlisted"
        })
      }
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive("the apex is allowed when listed next to the wildcard", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`*.up.test:${upstream.port}`, `up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const response = yield* request(proxy.port, getRequest(`http://${authority}/apex`, authority))
      expect(response.status).toBe(200)
      expect(echoed(response.body).url).toBe("/apex")
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(response.body)
      })
    }))

  it.scopedLive("a port the entry does not name is port-not-allowed, for CONNECT and for http", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const tunnelResponse = yield* send(proxy.port, connectRequest("up.test:1"))
      expect(tunnelResponse.status).toBe(403)
      const plain = yield* request(proxy.port, getRequest("http://up.test:1/", "up.test:1"))
      expect(plain.status).toBe(403)
      const [first, second] = yield* decisions.take(2)
      expectRecord(first!, { kind: "connect", host: "up.test", port: 1, decision: "blocked", reason: "port-not-allowed" })
      expectRecord(second!, { kind: "http", host: "up.test", port: 1, decision: "blocked", reason: "port-not-allowed" })
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive("an entry without a port allows CONNECT :443 (nothing listens: 502 with upstreamError)", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["up.test"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest("up.test:443"))
      expect(response.status).toBe(502)
      expect(response.headers["proxy-status"]).toMatch(/^warrant; error=connection_refused; /)
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "up.test",
        port: 443,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        upstreamError: "connect ECONNREFUSED 127.0.0.1:443"
      })
    }))

  it.scopedLive("an entry without a port refuses plain http to :443 and CONNECT to :80", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["up.test"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const plain = yield* request(proxy.port, getRequest("http://up.test:443/", "up.test:443"))
      expect(plain.status).toBe(403)
      const tunnelResponse = yield* send(proxy.port, connectRequest("up.test:80"))
      expect(tunnelResponse.status).toBe(403)
      const [first, second] = yield* decisions.take(2)
      expectRecord(first!, { kind: "http", host: "up.test", port: 443, decision: "blocked", reason: "port-not-allowed" })
      expectRecord(second!, { kind: "connect", host: "up.test", port: 80, decision: "blocked", reason: "port-not-allowed" })
    }))

  it.scopedLive("an entry without a port allows plain http to :80 (nothing listens: 502 with upstreamError)", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["up.test"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, getRequest("http://up.test/", "up.test"))
      expect(response.status).toBe(502)
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: 80,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: 0,
        upstreamError: "connect ECONNREFUSED 127.0.0.1:80"
      })
    }))

  it.scopedLive("a trailing dot and upper case match up.test, and the record says up.test", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      for (const spelling of ["up.test.", "UP.TEST", "Up.Test."]) {
        const authority = `${spelling}:${upstream.port}`
        const response = yield* request(proxy.port, getRequest(`http://${authority}/`, authority))
        expect(response.status).toBe(200)
        expect(headerValues(echoed(response.body).rawHeaders, "host")).toEqual([`up.test:${upstream.port}`])
        expectRecord(yield* decisions.next, {
          kind: "http",
          host: "up.test",
          port: upstream.port,
          decision: "allowed",
          reason: "allowlisted",
          resolvedAddress: "127.0.0.1",
          bytesUp: 0,
          bytesDown: Buffer.byteLength(response.body)
        })
      }
    }))

  it.scopedLive("CONNECT UP.TEST.:<port> matches an entry spelled UP.Test.:<port>", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`UP.Test.:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* tunnel(proxy.port, `UP.TEST.:${echo.port}`)
      expect(yield* roundTrip(conn, "abc")).toBe("abc")
      yield* conn.end()
      yield* conn.waitClosed()
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "up.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 3,
        bytesDown: 3
      })
    }))

  it.scopedLive("an IDNA homograph xn--pple-43d.test does not match apple.test", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`apple.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const tunnelResponse = yield* send(proxy.port, connectRequest(`xn--pple-43d.test:${echo.port}`))
      expect(tunnelResponse.status).toBe(403)
      const plain = yield* request(proxy.port, getRequest(`http://xn--pple-43d.test:${echo.port}/`, `xn--pple-43d.test:${echo.port}`))
      expect(plain.status).toBe(403)
      const [first, second] = yield* decisions.take(2)
      expectRecord(first!, { kind: "connect", host: "xn--pple-43d.test", port: echo.port, decision: "blocked", reason: "not-allowlisted" })
      expectRecord(second!, { kind: "http", host: "xn--pple-43d.test", port: echo.port, decision: "blocked", reason: "not-allowlisted" })
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive.each([
    ["up.test", "up.test"],
    ["up.test:0", "up.test:0"],
    ["up.test:65536", "up.test:65536"],
    ["up.test:1e3", "up.test:1e3"],
    ["up.test:-1", "up.test:-1"]
  ])("CONNECT %s is 400 invalid-authority (a CONNECT needs a port from 1 to 65535)", ([target, host]) =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["up.test:443"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest(target!))
      expect(response.status).toBe(400)
      expectRecord(yield* decisions.next, { kind: "connect", host: host!, decision: "blocked", reason: "invalid-authority" })
    }))
})

// ---------------------------------------------------------------------------------------------
// 7–10. Authorities and request forms the proxy will not read
// ---------------------------------------------------------------------------------------------

describe("malformed authorities and requests", () => {
  it.scopedLive("CONNECT user:secret@up.test:<port> is invalid-authority and the record hides the password", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest(`user:secret@up.test:${echo.port}`, `up.test:${echo.port}`))
      expect(response.status).toBe(400)
      const body = yield* readBody(response)
      expect(body).not.toContain("secret")
      const record = yield* decisions.next
      expectRecord(record, { kind: "connect", host: `up.test:${echo.port}`, decision: "blocked", reason: "invalid-authority" })
      expect(JSON.stringify(record)).not.toContain("secret")
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive("GET http://user:secret@up.test:<port>/ is invalid-authority and the record hides the password", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(
        proxy.port,
        getRequest(`http://user:secret@up.test:${upstream.port}/`, `up.test:${upstream.port}`)
      )
      expect(response.status).toBe(400)
      expect(response.body).not.toContain("secret")
      const record = yield* decisions.next
      expectRecord(record, { kind: "http", host: `up.test:${upstream.port}`, decision: "blocked", reason: "invalid-authority" })
      expect(JSON.stringify(record)).not.toContain("secret")
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive("percent-encoding in the host is invalid-authority, for CONNECT and for http", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up%2etest:${upstream.port}`
      const tunnelResponse = yield* send(proxy.port, connectRequest(authority))
      expect(tunnelResponse.status).toBe(400)
      const plain = yield* request(proxy.port, getRequest(`http://${authority}/`, `up.test:${upstream.port}`))
      expect(plain.status).toBe(400)
      const [first, second] = yield* decisions.take(2)
      expectRecord(first!, { kind: "connect", host: `up?2etest:${upstream.port}`, decision: "blocked", reason: "invalid-authority" })
      expectRecord(second!, { kind: "http", host: `up?2etest:${upstream.port}`, decision: "blocked", reason: "invalid-authority" })
      expect(upstream.requests.length).toBe(0)
    }))

  /** Bytes Node's parser must reject outright: a 400, no record, nothing upstream. */
  const parserRejects: ReadonlyArray<readonly [string, (port: number) => string]> = [
    ["a bare CR inside the request target", (p) => `GET http://up.test:${p}/a\rHost: evil HTTP/1.1\r\nHost: up.test:${p}\r\n\r\n`],
    ["a CRLF splitting the request target from its version", (p) => `GET http://up.test:${p}/\r\n HTTP/1.1\r\nHost: up.test:${p}\r\n\r\n`],
    ["a bare CR inside a header value", (p) => `GET http://up.test:${p}/ HTTP/1.1\r\nX-A: b\rHost: evil\r\nHost: up.test:${p}\r\n\r\n`],
    ["a bare LF inside a header value", (p) => `GET http://up.test:${p}/ HTTP/1.1\r\nX-A: b\nHost: evil\r\nHost: up.test:${p}\r\n\r\n`],
    ["a NUL inside a header value", (p) => `GET http://up.test:${p}/ HTTP/1.1\r\nX-A: b\u0000c\r\nHost: up.test:${p}\r\n\r\n`],
    ["an obs-fold continuation line", (p) => `GET http://up.test:${p}/ HTTP/1.1\r\nX-A: b\r\n Host: evil\r\nHost: up.test:${p}\r\n\r\n`],
    [
      "Content-Length together with Transfer-Encoding: chunked",
      (p) => `POST http://up.test:${p}/ HTTP/1.1\r\nHost: up.test:${p}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`
    ],
    [
      "two different Content-Length headers",
      (p) => `POST http://up.test:${p}/ HTTP/1.1\r\nHost: up.test:${p}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`
    ]
  ]

  it.scopedLive.each(parserRejects)("%s gets 400 from the parser; nothing reaches the upstream; the proxy serves on", ([, bytes]) =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const rejected = yield* send(proxy.port, bytes(upstream.port))
      expect(rejected.status).toBe(400)
      expect(rejected.headers["proxy-status"]).toBe(`warrant; error=http_request_error; details="malformed HTTP request"`)
      yield* rejected.conn.waitClosed()
      expect(upstream.requests.length).toBe(0)

      const authority = `up.test:${upstream.port}`
      const ok = yield* request(proxy.port, getRequest(`http://${authority}/after`, authority))
      expect(ok.status).toBe(200)
      expect(upstream.requests.map((r) => r.url)).toEqual(["/after"])
      const record = yield* decisions.next
      // The rejected bytes made no record: the first one is the request that followed.
      expect(record.id).toBe(0)
      expectRecord(record, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(ok.body)
      })
    }))

  it.scopedLive("an HTTP/1.1 absolute-form request without a Host header gets Node's own 400; nothing reaches the upstream", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const rejected = yield* send(proxy.port, getRequest(`http://${authority}/`, null))
      expect(rejected.statusLine).toBe("HTTP/1.1 400 Bad Request")
      expect(rejected.headers["connection"]).toBe("close")
      expect(rejected.headers["proxy-status"]).toBe(undefined)
      yield* rejected.conn.waitClosed()
      const ok = yield* request(proxy.port, getRequest(`http://${authority}/after`, authority))
      expect(ok.status).toBe(200)
      expect(upstream.requests.map((r) => r.url)).toEqual(["/after"])
      // Node answered before the proxy saw a request, so the first record is the one that followed.
      expect((yield* decisions.next).id).toBe(0)
    }))

  it.scopedLive("a CRLF right after the request target (no HTTP version, HTTP/0.9 form) with an injected header is refused; nothing reaches the upstream", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const injected = yield* request(
        proxy.port,
        `GET http://${authority}/a\r\nX-Injected: evil HTTP/1.1\r\nHost: ${authority}\r\n\r\n`
      )
      expect(injected.status).toBe(400)
      expect(upstream.requests.length).toBe(0)
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "blocked",
        reason: "unsupported-request"
      })
    }))

  it.scopedLive("`GET http://up.test:<port>/a\\r\\nHost: evil HTTP/1.1` (read as HTTP/0.9) is 400 and nothing reaches the upstream", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, `GET http://up.test:${upstream.port}/a\r\nHost: evil HTTP/1.1\r\n\r\n`)
      expect(response.status).toBe(400)
      expect(upstream.requests.length).toBe(0)
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "blocked",
        reason: "unsupported-request"
      })
    }))

  it.scopedLive("a Host header naming another authority is 421 host-mismatch, for http and CONNECT", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`, `up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const plain = yield* request(proxy.port, getRequest(`http://up.test:${upstream.port}/`, `evil.test:${upstream.port}`))
      expect(plain.status).toBe(421)
      const tunnelResponse = yield* send(proxy.port, connectRequest(`up.test:${echo.port}`, `evil.test:${echo.port}`))
      expect(tunnelResponse.status).toBe(421)
      // Same name, other port: still another authority.
      const portOnly = yield* request(proxy.port, getRequest(`http://up.test:${upstream.port}/`, "up.test"))
      expect(portOnly.status).toBe(421)
      const [first, second, third] = yield* decisions.take(3)
      expectRecord(first!, { kind: "http", host: "up.test", port: upstream.port, decision: "blocked", reason: "host-mismatch" })
      expectRecord(second!, { kind: "connect", host: "up.test", port: echo.port, decision: "blocked", reason: "host-mismatch" })
      expectRecord(third!, { kind: "http", host: "up.test", port: upstream.port, decision: "blocked", reason: "host-mismatch" })
      expect(upstream.requests.length).toBe(0)
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive("two Host headers are 400 invalid-authority, for http and CONNECT", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`, `up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const a = `up.test:${upstream.port}`
      const plain = yield* request(proxy.port, getRequest(`http://${a}/`, a, `Host: ${a}\r\n`))
      expect(plain.status).toBe(400)
      const b = `up.test:${echo.port}`
      const tunnelResponse = yield* send(proxy.port, connectRequest(b, b, `Host: evil.test:${echo.port}\r\n`))
      expect(tunnelResponse.status).toBe(400)
      const [first, second] = yield* decisions.take(2)
      expectRecord(first!, { kind: "http", host: "up.test", port: upstream.port, decision: "blocked", reason: "invalid-authority" })
      expectRecord(second!, { kind: "connect", host: "up.test", port: echo.port, decision: "blocked", reason: "invalid-authority" })
      expect(upstream.requests.length).toBe(0)
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive("origin-form GET / is 400 unsupported-request", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, getRequest("/", `up.test:${upstream.port}`))
      expect(response.status).toBe(400)
      expect(response.body).toBe(
        "warrant egress: origin-form request: this is a proxy, send an absolute URL (http://host/path) or use CONNECT\n"
      )
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: `up.test:${upstream.port}`,
        decision: "blocked",
        reason: "unsupported-request"
      })
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive("an https:// absolute-form target is 400 unsupported-request", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const response = yield* request(proxy.port, getRequest(`https://${authority}/`, authority))
      expect(response.status).toBe(400)
      expect(response.body).toBe("warrant egress: the https scheme is not forwarded; use CONNECT for https and other protocols\n")
      expectRecord(yield* decisions.next, { kind: "http", host: authority, decision: "blocked", reason: "unsupported-request" })
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive("an asterisk-form OPTIONS * is 400 unsupported-request", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const response = yield* request(proxy.port, `OPTIONS * HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)
      expect(response.status).toBe(400)
      expectRecord(yield* decisions.next, { kind: "http", host: authority, decision: "blocked", reason: "unsupported-request" })
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive("a WebSocket Upgrade over absolute-form is 501 unsupported-request", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const response = yield* request(
        proxy.port,
        getRequest(
          `http://${authority}/ws`,
          authority,
          "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        )
      )
      expect(response.status).toBe(501)
      expect(response.headers["proxy-status"]).toMatch(/^warrant; error=http_upgrade_failed; /)
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "blocked",
        reason: "unsupported-request"
      })
      expect(upstream.requests.length).toBe(0)
    }))
})

// ---------------------------------------------------------------------------------------------
// 11. Forwarding
// ---------------------------------------------------------------------------------------------

describe("forwarding plain http", () => {
  it.scopedLive("hop-by-hop headers and headers named in Connection are dropped; ordinary ones are forwarded", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const response = yield* request(
        proxy.port,
        getRequest(
          `http://${authority}/h`,
          authority,
          [
            "Connection: keep-alive, X-Private",
            "Keep-Alive: timeout=5",
            "Proxy-Connection: keep-alive",
            "TE: trailers",
            "Trailer: X-Checksum",
            "Proxy-Authorization: Basic dXNlcjpzZWNyZXQ=",
            "X-Private: do-not-forward",
            "X-Ordinary: yes",
            "Accept: text/plain",
            ""
          ].join("\r\n")
        )
      )
      expect(response.status).toBe(200)
      const seen = echoed(response.body)
      expect(seen.rawHeaders).toEqual(["Host", authority, "X-Ordinary", "yes", "Accept", "text/plain", "Connection", "keep-alive"])
      expect(response.headers["x-upstream"]).toBe("yes")
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(response.body)
      })
    }))

  it.scopedLive("a POST body is forwarded byte for byte and counted as bytesUp", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const body = "name=value&other=1"
      const response = yield* request(
        proxy.port,
        `POST http://${authority}/submit HTTP/1.1\r\nHost: ${authority}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      )
      expect(response.status).toBe(200)
      const seen = echoed(response.body)
      expect(seen.method).toBe("POST")
      expect(seen.url).toBe("/submit")
      expect(seen.body).toBe(body)
      expect(headerValues(seen.rawHeaders, "content-length")).toEqual([String(body.length)])
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: body.length,
        bytesDown: Buffer.byteLength(response.body)
      })
    }))

  it.scopedLive("two requests on one keep-alive client connection make two records in order", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      expect(proxy.url).toBe(`http://127.0.0.1:${proxy.port}`)
      const authority = `up.test:${upstream.port}`
      const first = yield* send(proxy.port, getRequest(`http://${authority}/one`, authority))
      expect(first.status).toBe(200)
      const firstBody = yield* readBody(first)
      yield* first.conn.write(getRequest(`http://${authority}/two`, authority))
      const secondHead = yield* first.conn.readHead()
      expect(secondHead.status).toBe(200)
      const secondBody = yield* readBody({ ...first, ...secondHead })
      expect(upstream.requests.map((r) => r.url)).toEqual(["/one", "/two"])
      const [a, b] = yield* decisions.take(2)
      expect([a!.id, b!.id]).toEqual([0, 1])
      const base = { kind: "http", host: "up.test", port: upstream.port, decision: "allowed", reason: "allowlisted", resolvedAddress: "127.0.0.1", bytesUp: 0 } as const
      expectRecord(a!, { ...base, bytesDown: Buffer.byteLength(firstBody) })
      expectRecord(b!, { ...base, bytesDown: Buffer.byteLength(secondBody) })
    }))

  it.scopedLive("request headers beyond maxHeaderBytes get 431 and the proxy keeps serving", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), { maxHeaderBytes: 1024 }, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const big = yield* send(proxy.port, getRequest(`http://${authority}/`, authority, `X-Big: ${"a".repeat(4096)}\r\n`))
      expect(big.status).toBe(431)
      expect(big.headers["proxy-status"]).toBe(`warrant; error=http_request_error; details="the request headers are too large"`)
      yield* big.conn.waitClosed()
      expect(upstream.requests.length).toBe(0)
      const ok = yield* request(proxy.port, getRequest(`http://${authority}/`, authority))
      expect(ok.status).toBe(200)
      const record = yield* decisions.next
      expect(record.id).toBe(0)
      expectRecord(record, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(ok.body)
      })
    }))

  it.scopedLive("hop-by-hop response headers from the upstream are not passed back to the client", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const response = yield* request(proxy.port, getRequest(`http://${authority}/hop`, authority))
      expect(response.status).toBe(200)
      expect(Object.keys(response.headers).sort()).toEqual(
        ["connection", "content-length", "content-type", "date", "keep-alive", "x-kept", "x-upstream"]
      )
      expect(response.headers["connection"]).toBe("keep-alive")
      expect(response.headers["x-kept"]).toBe("1")
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(response.body)
      })
    }))

  it.scopedLive("after an allowed request, a request to a refused host on the same connection is still refused", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const first = yield* send(proxy.port, getRequest(`http://${authority}/ok`, authority))
      expect(first.status).toBe(200)
      const firstBody = yield* readBody(first)
      const other = `127.0.0.1:${upstream.port}`
      yield* first.conn.write(getRequest(`http://${other}/sneaky`, other))
      const second = yield* first.conn.readHead()
      expect(second.status).toBe(403)
      const [a, b] = yield* decisions.take(2)
      expectRecord(a!, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(firstBody)
      })
      expectRecord(b!, { kind: "http", host: "127.0.0.1", port: upstream.port, decision: "blocked", reason: "not-allowlisted" })
      expect(upstream.requests.map((r) => r.url)).toEqual(["/ok"])
    }))

  it.scopedLive("a forwarded request whose upstream stays silent for idleTimeoutMs gets 502 with upstreamError", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), { idleTimeoutMs: 200 }, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const response = yield* request(proxy.port, getRequest(`http://${authority}/stall`, authority))
      expect(response.status).toBe(502)
      expect(upstream.requests.map((r) => r.url)).toEqual(["/stall"])
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: 0,
        upstreamError: "no bytes for 200 ms"
      })
    }))

  it.scopedLive("an in-flight forwarded request holds a slot: with maxTunnels 1 a CONNECT meanwhile is 503", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`, `up.test:${echo.port}`]), { maxTunnels: 1 }, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${upstream.port}`
      const stalled = yield* open(proxy.port)
      yield* stalled.write(getRequest(`http://${authority}/stall`, authority))
      yield* upstream.received(1)
      expect(yield* proxy.active).toBe(1)
      const refused = yield* send(proxy.port, connectRequest(`up.test:${echo.port}`))
      expect(refused.status).toBe(503)
      expectRecord(yield* decisions.next, { kind: "connect", host: "up.test", port: echo.port, decision: "blocked", reason: "tunnel-limit" })
      expect(echo.accepted()).toBe(0)
    }))
})

// ---------------------------------------------------------------------------------------------
// 12–13. DNS answers
// ---------------------------------------------------------------------------------------------

describe("DNS answers", () => {
  it.scopedLive("a private answer (10.0.0.5) is address-refused", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["private.test:8080"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, getRequest("http://private.test:8080/", "private.test:8080"))
      expect(response.status).toBe(403)
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "private.test",
        port: 8080,
        decision: "blocked",
        reason: "address-refused",
        resolvedAddress: "10.0.0.5"
      })
    }))

  it.scopedLive("a mixed answer [public, 10.0.0.5] is refused naming 10.0.0.5, with no dial", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["mixed.test:443"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest("mixed.test:443"))
      expect(response.status).toBe(403)
      expect(response.headers["proxy-status"]).toMatch(/^warrant; error=destination_ip_prohibited; /)
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "mixed.test",
        port: 443,
        decision: "blocked",
        reason: "address-refused",
        resolvedAddress: "10.0.0.5"
      })
    }))

  it.scopedLive("NXDOMAIN is 502 dns-failed", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["missing.test:443", "missing.test:80"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const tunnelResponse = yield* send(proxy.port, connectRequest("missing.test:443"))
      expect(tunnelResponse.status).toBe(502)
      expect(tunnelResponse.headers["proxy-status"]).toMatch(/^warrant; error=destination_not_found; /)
      const plain = yield* request(proxy.port, getRequest("http://missing.test/", "missing.test"))
      expect(plain.status).toBe(502)
      const [first, second] = yield* decisions.take(2)
      expectRecord(first!, { kind: "connect", host: "missing.test", port: 443, decision: "blocked", reason: "dns-failed" })
      expectRecord(second!, { kind: "http", host: "missing.test", port: 80, decision: "blocked", reason: "dns-failed" })
    }))

  it.scopedLive("rebinding: the name is resolved once and the checked address is the one dialled", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const calls: Array<string> = []
      const rebinding = Resolver.layerFunction((host) => {
        calls.push(host)
        return calls.length === 1 ? ["127.0.0.1"] : ["10.0.0.1"]
      })
      const proxy = yield* startProxy(allow([`rebind.test:${upstream.port}`]), undefined, rebinding)
      const decisions = yield* collectDecisions(proxy)
      const authority = `rebind.test:${upstream.port}`
      const response = yield* request(proxy.port, getRequest(`http://${authority}/`, authority))
      expect(response.status).toBe(200)
      expect(upstream.requests.length).toBe(1)
      expect(headerValues(upstream.requests[0]!.rawHeaders, "host")).toEqual([authority])
      expect(calls).toEqual(["rebind.test"])
      expectRecord(yield* decisions.next, {
        kind: "http",
        host: "rebind.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(response.body)
      })
    }))

  it.scopedLive("an IPv4-mapped IPv6 answer is judged as its IPv4 address", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const resolver = Resolver.layerStatic({ "mapped-private.test": ["::ffff:10.0.0.5"], "mapped-loop.test": ["::ffff:127.0.0.1"] })
      const proxy = yield* startProxy(allow([`mapped-private.test:${echo.port}`, `mapped-loop.test:${echo.port}`]), undefined, resolver)
      const decisions = yield* collectDecisions(proxy)
      const refused = yield* send(proxy.port, connectRequest(`mapped-private.test:${echo.port}`))
      expect(refused.status).toBe(403)
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "mapped-private.test",
        port: echo.port,
        decision: "blocked",
        reason: "address-refused",
        resolvedAddress: "10.0.0.5"
      })
      const conn = yield* tunnel(proxy.port, `mapped-loop.test:${echo.port}`)
      expect(yield* roundTrip(conn, "mapped")).toBe("mapped")
      yield* conn.end()
      yield* conn.waitClosed()
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "mapped-loop.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 6,
        bytesDown: 6
      })
    }))

  it.scopedLive("an unreadable resolver answer is 502 dns-failed", () =>
    Effect.gen(function*() {
      const resolver = Resolver.layerStatic({ "garbled.test": ["not-an-address"] })
      const proxy = yield* startProxy(allow(["garbled.test:443"]), undefined, resolver)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest("garbled.test:443"))
      expect(response.status).toBe(502)
      expect(response.headers["proxy-status"]).toMatch(/^warrant; error=dns_error; /)
      expectRecord(yield* decisions.next, { kind: "connect", host: "garbled.test", port: 443, decision: "blocked", reason: "dns-failed" })
    }))

  it.scopedLive("rebinding on CONNECT: one resolution, and the tunnel goes to the checked address", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const calls: Array<string> = []
      const rebinding = Resolver.layerFunction((host) => {
        calls.push(host)
        return calls.length === 1 ? ["127.0.0.1"] : ["10.0.0.1"]
      })
      const proxy = yield* startProxy(allow([`rebind.test:${echo.port}`]), undefined, rebinding)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* tunnel(proxy.port, `rebind.test:${echo.port}`)
      expect(yield* roundTrip(conn, "rebind")).toBe("rebind")
      yield* conn.end()
      yield* conn.waitClosed()
      expect(calls).toEqual(["rebind.test"])
      expect(echo.accepted()).toBe(1)
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "rebind.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 6,
        bytesDown: 6
      })
    }))
})

// ---------------------------------------------------------------------------------------------
// 14–18. Tunnels
// ---------------------------------------------------------------------------------------------

describe("tunnels", () => {
  it.scopedLive("an allowed tunnel carries bytes both ways and records them when it closes", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* tunnel(proxy.port, `up.test:${echo.port}`)
      expect(yield* roundTrip(conn, "hello, tunnel")).toBe("hello, tunnel")
      const binary = Buffer.from([0, 1, 2, 253, 254, 255, 13, 10, 13, 10])
      yield* conn.write(binary)
      expect(Buffer.compare(yield* conn.readBytes(binary.length), binary)).toBe(0)
      expect(yield* proxy.active).toBe(1)
      yield* conn.end()
      yield* conn.waitClosed()
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "up.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 13 + binary.length,
        bytesDown: 13 + binary.length
      })
    }))

  it.scopedLive("bytes sent right behind the CONNECT head reach the upstream", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const exchange = yield* send(proxy.port, connectRequest(`up.test:${echo.port}`) + "early-bytes")
      expect(exchange.status).toBe(200)
      expect((yield* exchange.conn.readBytes(11)).toString("latin1")).toBe("early-bytes")
      yield* exchange.conn.end()
      yield* exchange.conn.waitClosed()
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "up.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 11,
        bytesDown: 11
      })
    }))

  it.scopedLive("20 concurrent tunnels: 19 round trips complete while one silent client stays open", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conns = yield* Effect.all(
        Array.from({ length: 20 }, () => tunnel(proxy.port, `up.test:${echo.port}`)),
        { concurrency: "unbounded" }
      )
      expect(yield* proxy.active).toBe(20)
      const [silent, ...busy] = conns
      const replies = yield* Effect.all(busy.map((conn, i) => roundTrip(conn, `tunnel-${i}`)), { concurrency: "unbounded" })
      expect(replies).toEqual(busy.map((_, i) => `tunnel-${i}`))
      expect(silent!.closed).toBe(false)
      yield* Effect.all(busy.map((conn) => Effect.zipRight(conn.end(), conn.waitClosed())), { concurrency: "unbounded" })
      const records = [...(yield* decisions.take(19))].sort((a, b) => a.bytesUp! - b.bytesUp!)
      const lengths = busy.map((_, i) => `tunnel-${i}`.length).sort((a, b) => a - b)
      records.forEach((record, i) =>
        expectRecord(record, {
          kind: "connect",
          host: "up.test",
          port: echo.port,
          decision: "allowed",
          reason: "allowlisted",
          resolvedAddress: "127.0.0.1",
          bytesUp: lengths[i]!,
          bytesDown: lengths[i]!
        })
      )
      expect(silent!.closed).toBe(false)
      expect(yield* decisions.buffered).toBe(0)
      yield* silent!.end()
      yield* silent!.waitClosed()
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "up.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: 0
      })
    }))

  it.scopedLive("maxTunnels 2: a third CONNECT is 503 tunnel-limit; once one closes a new one succeeds", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), { maxTunnels: 2 }, names)
      const decisions = yield* collectDecisions(proxy)
      const authority = `up.test:${echo.port}`
      const first = yield* tunnel(proxy.port, authority)
      const second = yield* tunnel(proxy.port, authority)
      expect(yield* roundTrip(second, "2")).toBe("2")
      const third = yield* send(proxy.port, connectRequest(authority))
      expect(third.status).toBe(503)
      expect(third.headers["proxy-status"]).toMatch(/^warrant; error=connection_limit_reached; /)
      yield* third.conn.waitClosed()
      expectRecord(yield* decisions.next, { kind: "connect", host: "up.test", port: echo.port, decision: "blocked", reason: "tunnel-limit" })

      yield* first.end()
      yield* first.waitClosed()
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "up.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: 0
      })
      const fourth = yield* tunnel(proxy.port, authority)
      expect(yield* roundTrip(fourth, "four")).toBe("four")
      expect(yield* proxy.active).toBe(2)
    }))

  it.scopedLive("an idle tunnel is closed by the proxy after idleTimeoutMs", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), { idleTimeoutMs: 200 }, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* tunnel(proxy.port, `up.test:${echo.port}`)
      expect(yield* roundTrip(conn, "once")).toBe("once")
      yield* conn.waitClosed()
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "up.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 4,
        bytesDown: 4
      })
    }))

  it.scopedLive("half-close: bytes written before the client's FIN are still echoed, then the tunnel closes", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* tunnel(proxy.port, `up.test:${echo.port}`)
      yield* conn.write("last words")
      yield* conn.end()
      expect((yield* conn.readToClose()).toString("latin1")).toBe("last words")
      expectRecord(yield* decisions.next, {
        kind: "connect",
        host: "up.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 10,
        bytesDown: 10
      })
    }))

  it.scopedLive("maxConnections 1: a second client connection is dropped while the first is served", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), { maxConnections: 1 }, names)
      const first = yield* tunnel(proxy.port, `up.test:${echo.port}`)
      const second = yield* open(proxy.port)
      yield* second.write(connectRequest(`up.test:${echo.port}`))
      expect((yield* second.readToClose()).length).toBe(0)
      expect(yield* roundTrip(first, "still here")).toBe("still here")
      expect(echo.accepted()).toBe(1)
    }))
})

// ---------------------------------------------------------------------------------------------
// 19. Garbage
// ---------------------------------------------------------------------------------------------

describe("garbage input", () => {
  /** Writes bytes, half-closes, and waits until the proxy answers or closes. */
  const throwAt = (port: number, bytes: Uint8Array) =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const conn = yield* open(port)
      yield* conn.write(bytes)
      yield* conn.end()
      yield* conn.waitResponseOrClose()
      const text = conn.pending.toString("latin1")
      if (text.length > 0) expect(text).toMatch(/^HTTP\/1\.1 [45]\d\d /)
    })))

  const afterwards = (port: number, upstream: { port: number }) =>
    Effect.gen(function*() {
      const authority = `up.test:${upstream.port}`
      const ok = yield* request(port, getRequest(`http://${authority}/still-alive`, authority))
      expect(ok.status).toBe(200)
      expect(echoed(ok.body).url).toBe("/still-alive")
    })

  it.scopedLive("random bytes never crash or hang the proxy", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), (bytes) => throwAt(proxy.port, bytes)), { numRuns: 50 })
      )
      yield* afterwards(proxy.port, upstream)
    }))

  it.scopedLive("request-shaped noise never crashes or hangs the proxy", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const token = fc.constantFrom(
        "GET ", "CONNECT ", "POST ", "http://", "https://", "up.test", `:${upstream.port}`, ":0", ":99999", "@", "%00", "[::1]",
        "/", " HTTP/1.1", " HTTP/1.0", "\r\n", "\n", "\r", "Host: ", "Content-Length: 5", "Transfer-Encoding: chunked",
        "Connection: Upgrade", "Upgrade: websocket", "0\r\n\r\n", "\u0000", "\u00ff", " ", ":"
      )
      const noise = fc.array(fc.oneof(token, fc.string({ maxLength: 8 })), { maxLength: 24 }).map((parts) =>
        Buffer.from(parts.join(""), "latin1")
      )
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(noise, (bytes) => throwAt(proxy.port, bytes)), { numRuns: 50 })
      )
      yield* afterwards(proxy.port, upstream)
    }))
})

// ---------------------------------------------------------------------------------------------
// 20–23. Lifecycle
// ---------------------------------------------------------------------------------------------

describe("lifecycle", () => {
  it.scopedLive("closing the scope tears down open tunnels, then the decisions stream ends", () =>
    Effect.gen(function*() {
      const outer = yield* Effect.scope
      const echo = yield* echoUpstream
      const { conn, port, records } = yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
        const records = yield* drainDecisions(proxy)
        const conn = yield* Scope.extend(tunnel(proxy.port, `up.test:${echo.port}`), outer)
        expect(yield* roundTrip(conn, "before-close")).toBe("before-close")
        return { conn, port: proxy.port, records }
      }))
      yield* conn.waitClosed()
      const all = yield* records
      expect(all.length).toBe(1)
      expectRecord(all[0]!, {
        kind: "connect",
        host: "up.test",
        port: echo.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 12,
        bytesDown: 12
      })
      const refused = yield* Effect.flip(Effect.scoped(open(port)))
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")
    }))

  it.scopedLive("two proxies with different policies in one test are independent", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const authority = `up.test:${upstream.port}`
      const permissive = yield* startProxy(allow([authority]), undefined, names)
      const strict = yield* startProxy(allow(["other.test:80"]), undefined, names)
      expect(permissive.port).not.toBe(strict.port)
      const d1 = yield* collectDecisions(permissive)
      const d2 = yield* collectDecisions(strict)
      const a = yield* request(permissive.port, getRequest(`http://${authority}/`, authority))
      expect(a.status).toBe(200)
      const b = yield* request(strict.port, getRequest(`http://${authority}/`, authority))
      expect(b.status).toBe(403)
      const ra = yield* d1.next
      const rb = yield* d2.next
      expect([ra.id, rb.id]).toEqual([0, 0])
      expectRecord(ra, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: Buffer.byteLength(a.body)
      })
      expectRecord(rb, { kind: "http", host: "up.test", port: upstream.port, decision: "blocked", reason: "not-allowlisted" })
      expect(yield* d1.buffered).toBe(0)
      expect(yield* d2.buffered).toBe(0)
      expect(upstream.requests.length).toBe(1)
    }))

  it.scopedLive("the Unix socket listener tunnels, is mode 0600, and is removed when the scope closes", () =>
    Effect.gen(function*() {
      const outer = yield* Effect.scope
      const dir = yield* tempDir
      const echo = yield* echoUpstream
      const socketPath = join(dir, "proxy.sock")
      const conn = yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), { socketPath }, names)
        const decisions = yield* collectDecisions(proxy)
        expect(proxy.socketPath).toBe(socketPath)
        expect(statSync(socketPath).isSocket()).toBe(true)
        expect(statSync(socketPath).mode & 0o777).toBe(0o600)
        const conn = yield* Scope.extend(tunnel({ path: socketPath }, `up.test:${echo.port}`), outer)
        expect(yield* roundTrip(conn, "via-unix")).toBe("via-unix")
        yield* conn.end()
        yield* conn.waitClosed()
        expectRecord(yield* decisions.next, {
          kind: "connect",
          host: "up.test",
          port: echo.port,
          decision: "allowed",
          reason: "allowlisted",
          resolvedAddress: "127.0.0.1",
          bytesUp: 8,
          bytesDown: 8
        })
        return conn
      }))
      expect(conn.closed).toBe(true)
      expect(existsSync(socketPath)).toBe(false)
    }))

  it.scopedLive("a socketPath that already exists fails with EgressStartFailed listen-failed and is left alone", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const socketPath = join(dir, "taken")
      writeFileSync(socketPath, "not a socket")
      const error = yield* Effect.flip(startProxy(allow([]), { socketPath }))
      expect(error._tag).toBe("EgressStartFailed")
      expect(error).toMatchObject({ reason: "listen-failed", detail: `${socketPath} already exists; the proxy never replaces a file` })
      expect(existsSync(socketPath)).toBe(true)
    }))

  it.scopedLive("an invalid allowHosts entry fails start with InvalidEgressPolicy", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startProxy(allow(["*.com"])))
      expect(error._tag).toBe("InvalidEgressPolicy")
      expect(error).toMatchObject({
        field: "allowHosts",
        entry: "*.com",
        reason: "a wildcard over a single label (a whole top-level domain) is too broad"
      })
    }))

  it.scopedLive("host 0.0.0.0 fails start with EgressStartFailed invalid-options", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(startProxy(allow([]), { host: "0.0.0.0" }))
      expect(error._tag).toBe("EgressStartFailed")
      expect(error).toMatchObject({ reason: "invalid-options", detail: `the proxy listens on loopback only, not "0.0.0.0"` })
    }))

  it.scopedLive("closing the scope ends an in-flight forwarded request and records it before the stream ends", () =>
    Effect.gen(function*() {
      const outer = yield* Effect.scope
      const upstream = yield* httpUpstream
      const authority = `up.test:${upstream.port}`
      const { conn, records } = yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* startProxy(allow([authority]), undefined, names)
        const records = yield* drainDecisions(proxy)
        const conn = yield* Scope.extend(open(proxy.port), outer)
        yield* conn.write(getRequest(`http://${authority}/stall`, authority))
        yield* upstream.received(1)
        return { conn, records }
      }))
      yield* conn.waitClosed()
      const all = yield* records
      expect(all.length).toBe(1)
      expectRecord(all[0]!, {
        kind: "http",
        host: "up.test",
        port: upstream.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: 0
      })
    }))

  it.scopedLive("headersTimeoutMs bounds a client that never finishes its headers: 408 and close", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow([]), { headersTimeoutMs: 200 })
      const conn = yield* open(proxy.port)
      yield* conn.write("GET http://up.test/ HTTP/1.1\r\nHost: up.test\r\n")
      // A deadline, not a wait: the response must come long before Node's 30 s default sweep.
      const head = yield* conn.readHead().pipe(
        Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new Error("no response within 2 s although headersTimeoutMs is 200") })
      )
      expect(head.status).toBe(408)
      expect(head.headers["proxy-status"]).toBe(`warrant; error=http_request_error; details="the request headers took too long"`)
      yield* conn.waitClosed()
    }))
})

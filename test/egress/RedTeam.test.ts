/**
 * Red-team attacks on the egress proxy over real loopback sockets. Each test is one attack,
 * written as exact bytes, and pins down what the client saw, what every upstream received
 * and the decision records. Every test documents an attack that held — several of them only
 * after the fix the attack prompted (smuggling through body framing, pipelining, hostile
 * upstream responses).
 *
 * Waits are on socket events. A bounded `guard` (Effect.timeoutFail) only turns "this never
 * happens" into a failure; one timed wait (the backpressure test) shows a stream stays paused.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, type Scope } from "effect"
import { createServer as createHttpServer, type IncomingMessage } from "node:http"
import { connect, createServer as createNetServer, type Socket } from "node:net"
import type { EgressDecision } from "../../src/egress/EgressDecision.js"
import * as Resolver from "../../src/egress/Resolver.js"
import type { NetworkPolicy } from "../../src/protocol/Network.js"
import {
  collectDecisions,
  type Conn,
  connectRequest,
  echoUpstream,
  fieldsOf,
  getRequest,
  httpUpstream,
  open,
  type ReceivedRequest,
  readBody,
  request,
  send,
  startProxy
} from "./support/ProxyHarness.js"

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const allow = (hosts: ReadonlyArray<string>, addresses: ReadonlyArray<string> = ["127.0.0.1"]): NetworkPolicy => ({
  defaultDeny: true,
  allowHosts: hosts,
  allowAddresses: addresses
})

const names = Resolver.layerStatic({
  "up.test": ["127.0.0.1"],
  "other.test": ["127.0.0.1"],
  "private.test": ["10.0.0.5"]
})

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
const expectRecord = (actual: EgressDecision, expected: Expected) =>
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

const allowedHttp = (host: string, port: number, bytesDown: number, bytesUp = 0): Expected => ({
  kind: "http",
  host,
  port,
  decision: "allowed",
  reason: "allowlisted",
  resolvedAddress: "127.0.0.1",
  bytesUp,
  bytesDown
})

/** Fails with `what` if `effect` has not finished within `ms`: a failure guard, never a wait. */
const guard = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, ms = 1_000) =>
  Effect.timeoutFail(effect, { duration: ms, onTimeout: () => new Error(`${what} did not happen within ${ms} ms`) })

/** One response read off a connection: head, then body by Content-Length. */
const readResponse = (conn: Conn) =>
  Effect.gen(function*() {
    const head = yield* conn.readHead()
    const body = yield* readBody({ conn, ...head })
    return { ...head, body }
  })

const tunnel = (proxyPort: number, authority: string, host: string | null = authority) =>
  Effect.gen(function*() {
    const exchange = yield* send(proxyPort, connectRequest(authority, host))
    expect(exchange.statusLine).toBe("HTTP/1.1 200 Connection Established")
    return exchange.conn
  })

const roundTrip = (conn: Conn, text: string) =>
  Effect.zipRight(conn.write(text), Effect.map(conn.readBytes(Buffer.byteLength(text)), (b) => b.toString("latin1")))

// ---------------------------------------------------------------------------------------------
// Hostile upstreams
// ---------------------------------------------------------------------------------------------

interface Listening {
  readonly port: number
}

/** Listens on 127.0.0.1:0; closing the scope destroys every socket and closes the server. */
const listenNet = (onSocket: (socket: Socket) => void): Effect.Effect<Listening, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ port: number; close: () => Promise<void> }>((resume) => {
      const sockets = new Set<Socket>()
      const server = createNetServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {})
        onSocket(socket)
      })
      server.listen({ host: "127.0.0.1", port: 0 }, () => {
        const address = server.address()
        resume(Effect.succeed({
          port: typeof address === "object" && address !== null ? address.port : 0,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done())
              for (const socket of sockets) socket.destroy()
            })
        }))
      })
    }),
    ({ close }) => Effect.promise(close)
  )

/** Answers the first bytes of every connection with exactly `reply`, then stays open. */
const rawHttpUpstream = (reply: string) =>
  listenNet((socket) => socket.once("data", () => socket.write(Buffer.from(reply, "latin1"))))

/** Waiters woken whenever `notify` is called, each until its own predicate holds. */
const watch = () => {
  const waiters = new Set<() => void>()
  return {
    notify: () => {
      for (const waiter of [...waiters]) waiter()
    },
    when: (ready: () => boolean) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (ready()) {
            waiters.delete(check)
            resume(Effect.void)
          }
        }
        waiters.add(check)
        check()
        return Effect.sync(() => waiters.delete(check))
      })
  }
}

/** Waiters woken by a counter that only grows. */
const counter = () => {
  let value = 0
  const waiters = new Set<() => void>()
  const reached = (n: number) =>
    Effect.async<void>((resume) => {
      const check = () => {
        if (value >= n) {
          waiters.delete(check)
          resume(Effect.void)
        }
      }
      waiters.add(check)
      check()
      return Effect.sync(() => waiters.delete(check))
    })
  return {
    get: () => value,
    set: (n: number) => {
      value = n
      for (const waiter of [...waiters]) waiter()
    },
    reached
  }
}

/**
 * A TCP upstream that writes as fast as the socket takes it (64 KiB at a time, always the same
 * buffer) until `stop`; `handed` counts the bytes the kernel accepted.
 */
const firehose = Effect.gen(function*() {
  const chunk = Buffer.alloc(64 * 1024, 0x66)
  const handed = counter()
  let current: Socket | undefined
  let stopped = false
  const server = yield* listenNet((socket) => {
    current = socket
    const pump = () => {
      while (!stopped && !socket.destroyed) {
        const more = socket.write(chunk, () => handed.set(socket.bytesWritten - socket.writableLength))
        if (!more) return
      }
    }
    socket.on("drain", pump)
    pump()
  })
  return {
    port: server.port,
    handed,
    /** Stops writing and sends FIN once everything queued is flushed. */
    stop: () => {
      stopped = true
      current?.end()
    },
    total: () => current?.bytesWritten ?? 0
  }
})

// ---------------------------------------------------------------------------------------------
// Process-level traps
// ---------------------------------------------------------------------------------------------

/**
 * Swaps every `uncaughtException` listener for one that records the error, for the rest of
 * the scope. Without any listener — as in `warrant egress serve` — such an error ends the
 * process; here it becomes an assertion.
 */
const trapUncaught = Effect.acquireRelease(
  Effect.sync(() => {
    const saved = process.listeners("uncaughtException")
    const errors: Array<Error> = []
    const seen = counter()
    const handler = (error: Error) => {
      errors.push(error)
      seen.set(errors.length)
    }
    process.removeAllListeners("uncaughtException")
    process.on("uncaughtException", handler)
    return { errors, first: seen.reached(1), saved, handler }
  }),
  ({ handler, saved }) =>
    Effect.sync(() => {
      process.off("uncaughtException", handler)
      for (const listener of saved) process.on("uncaughtException", listener)
    })
)

// ---------------------------------------------------------------------------------------------
// 1. Pipelining: several requests in one write on one keep-alive connection
// ---------------------------------------------------------------------------------------------

describe("pipelining", () => {
  it.scopedLive("two allowed requests to two different allowed hosts in one write are decided and forwarded each on its own", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const b = `other.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a, b]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/one`, a) + getRequest(`http://${b}/two`, b))
      const first = yield* readResponse(conn)
      const second = yield* readResponse(conn)
      expect([first.status, second.status]).toEqual([200, 200])
      expect(echoed(first.body).url).toBe("/one")
      expect(echoed(second.body).url).toBe("/two")
      expect(upstream.requests.map((r) => [r.url, r.rawHeaders])).toEqual([
        ["/one", ["Host", a, "Connection", "keep-alive"]],
        ["/two", ["Host", b, "Connection", "keep-alive"]]
      ])
      const records = [...(yield* decisions.take(2))].sort((x, y) => x.id - y.id)
      expect(records.map((r) => r.id)).toEqual([0, 1])
      expectRecord(records[0]!, allowedHttp("up.test", upstream.port, Buffer.byteLength(first.body)))
      expectRecord(records[1]!, allowedHttp("other.test", upstream.port, Buffer.byteLength(second.body)))
    }))

  it.scopedLive("an allowed request, then one to a non-allowlisted name and one to a private address, in one write: neither blocked one reaches any upstream", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a, "private.test:80"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      const loop = `127.0.0.1:${upstream.port}`
      yield* conn.write(
        getRequest(`http://${a}/ok`, a) +
          getRequest(`http://${loop}/sneaky`, loop) +
          getRequest("http://private.test/inner", "private.test")
      )
      const first = yield* readResponse(conn)
      expect(first.status).toBe(200)
      const second = yield* readResponse(conn)
      expect(second.status).toBe(403)
      expect(second.headers["connection"]).toBe("close")
      yield* conn.waitClosed()
      const records = [...(yield* decisions.take(3))].sort((x, y) => x.id - y.id)
      expectRecord(records[0]!, allowedHttp("up.test", upstream.port, Buffer.byteLength(first.body)))
      expectRecord(records[1]!, { kind: "http", host: "127.0.0.1", port: upstream.port, decision: "blocked", reason: "not-allowlisted" })
      // Pipelined behind a refusal that closed the connection: recorded, never processed (RFC 9112 §9.6).
      expectRecord(records[2]!, { kind: "http", host: "private.test", port: 80, decision: "blocked", reason: "unsupported-request" })
      expect(upstream.requests.map((r) => r.url)).toEqual(["/ok"])
    }))

  it.scopedLive("a refused request followed by an allowed one in one write — the allowed one must be recorded, free its slot, and never be forwarded on a connection already closing", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const echo = yield* echoUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a, `up.test:${echo.port}`]), { maxTunnels: 1 }, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest("http://evil.test/", "evil.test") + getRequest(`http://${a}/two`, a))
      const refused = yield* readResponse(conn)
      expect(refused.status).toBe(403)
      expect(refused.headers["connection"]).toBe("close")
      yield* conn.waitClosed()
      const records = [...(yield* guard(decisions.take(2), "a record for the second pipelined request"))].sort((x, y) => x.id - y.id)
      expectRecord(records[0]!, { kind: "http", host: "evil.test", port: 80, decision: "blocked", reason: "not-allowlisted" })
      expect([records[1]!.id, records[1]!.host, records[1]!.port]).toEqual([1, "up.test", upstream.port])
      expect(yield* proxy.active).toBe(0)
      const later = yield* tunnel(proxy.port, `up.test:${echo.port}`)
      expect(yield* roundTrip(later, "later")).toBe("later")
      // RFC 9112 §9.6: after a response with `Connection: close` no further request is processed.
      expect(upstream.requests.map((r) => r.url)).toEqual([])
    }))

  it.scopedLive("two pipelined allowed requests, then the client leaves — both are recorded and both slots are freed", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/stall`, a) + getRequest(`http://${a}/two`, a))
      yield* upstream.received(2)
      expect(yield* proxy.active).toBe(2)
      yield* conn.destroy()
      const records = [...(yield* guard(decisions.take(2), "records for both pipelined requests"))].sort((x, y) => x.id - y.id)
      expectRecord(records[0]!, { ...allowedHttp("up.test", upstream.port, 0), upstreamError: "the client connection closed before the response" })
      expect([records[1]!.id, records[1]!.host, records[1]!.decision]).toEqual([1, "up.test", "allowed"])
      expect(yield* proxy.active).toBe(0)
    }))

  const behindStall: ReadonlyArray<readonly [string, string, number]> = [
    ["bytes the parser rejects", "\u0000garbage\r\n\r\n", 400]
  ]

  it.scopedLive.each(behindStall)("an allowed GET still waiting for its upstream, then %s on the same connection: answered and closed; the GET is recorded and frees its slot", ([, tail, status]) =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/stall`, a))
      yield* upstream.received(1)
      yield* conn.write(tail)
      const head = yield* conn.readHead()
      expect(head.status).toBe(status)
      yield* guard(conn.waitClosed(), "the connection closing")
      const records = status === 400 ? yield* decisions.take(1) : yield* decisions.take(2)
      const get = records.find((r) => r.id === 0)!
      expectRecord(get, { ...allowedHttp("up.test", upstream.port, 0), upstreamError: "the client connection closed before the response" })
      expect(yield* proxy.active).toBe(0)
      expect(yield* decisions.buffered).toBe(0)
    }))

  const behindStallOrdered: ReadonlyArray<readonly [string, string, Partial<Expected>]> = [
    ["an Upgrade", "GET http://x.test/ HTTP/1.1\r\nHost: x.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", { kind: "http", host: "x.test", port: 80, reason: "unsupported-request" }],
    ["a CONNECT to a non-allowlisted host", "CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n", { kind: "connect", host: "evil.test", port: 443, reason: "not-allowlisted" }]
  ]

  it.scopedLive.each(behindStallOrdered)("an allowed GET still waiting for its upstream, then %s: recorded at once, never answered ahead of the GET's response (here an idle-timeout 502 that closes the connection)", ([, tail, expected]) =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), { idleTimeoutMs: 300 }, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/stall`, a))
      yield* upstream.received(1)
      yield* conn.write(tail)
      const refusal = yield* guard(decisions.next, "the refusal's record")
      expect(fieldsOf(refusal)).toMatchObject({ ...expected, decision: "blocked" })
      // The GET is still owed its response, so nothing at all has been written back yet.
      expect(conn.pending.length).toBe(0)
      const first = yield* guard(conn.readHead(), "the GET's response", 3_000)
      expect(first.status).toBe(502)
      expect(first.headers["connection"]).toBe("close")
      yield* readBody({ conn, ...first })
      // The 502 closes the connection, so the refusal recorded above is never written after it.
      yield* guard(conn.waitClosed(), "the connection closing")
      expect(conn.pending.length).toBe(0)
      const get = yield* guard(decisions.next, "the GET's record")
      expectRecord(get, { ...allowedHttp("up.test", upstream.port, 0), upstreamError: "no bytes for 300 ms" })
      expect(yield* proxy.active).toBe(0)
    }))

  it.scopedLive("a GET then a CONNECT to a non-allowlisted address in one write: the CONNECT never dials and is recorded", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const echo = yield* echoUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/one`, a) + connectRequest(`127.0.0.1:${echo.port}`) + "tunnel-bytes")
      yield* conn.waitClosed()
      expect(conn.pending.toString("latin1")).toMatch(/HTTP\/1\.1 403 Forbidden\r\n/)
      const records = [...(yield* decisions.take(2))].sort((x, y) => x.id - y.id)
      expect(records.map((r) => [r.id, r.kind, r.decision])).toEqual([[0, "http", "allowed"], [1, "connect", "blocked"]])
      expectRecord(records[1]!, { kind: "connect", host: "127.0.0.1", port: echo.port, decision: "blocked", reason: "not-allowlisted" })
      expect(echo.accepted()).toBe(0)
      expect(yield* proxy.active).toBe(0)
    }))

  it.scopedLive("a GET then a CONNECT in one write — responses come in request order (RFC 9112 §9.3.2), the GET's response is not spliced into the tunnel", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const echo = yield* echoUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a, `up.test:${echo.port}`]), undefined, names)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/one`, a) + connectRequest(`up.test:${echo.port}`))
      const first = yield* conn.readHead()
      expect(first.statusLine).toBe("HTTP/1.1 200 OK")
      expect(first.headers["x-upstream"]).toBe("yes")
    }))
})

// ---------------------------------------------------------------------------------------------
// 2. Request smuggling through the forwarded request's framing
// ---------------------------------------------------------------------------------------------

const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: evil.test\r\n\r\n"

const smuggling: ReadonlyArray<readonly [string, (authority: string) => string]> = [
  [
    "GET with Transfer-Encoding: chunked",
    (a) =>
      `GET http://${a}/a HTTP/1.1\r\nHost: ${a}\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`
  ],
  [
    "DELETE with Transfer-Encoding: chunked",
    (a) =>
      `DELETE http://${a}/a HTTP/1.1\r\nHost: ${a}\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`
  ],
  [
    "GET with Content-Length named in Connection",
    (a) => `GET http://${a}/a HTTP/1.1\r\nHost: ${a}\r\nConnection: content-length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`
  ]
]

describe("request smuggling through body framing", () => {
  it.scopedLive.each(smuggling)("%s — the body reaches the upstream as that request's body, never as a second request", ([, bytes]) =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(bytes(a))
      yield* upstream.received(1)
      expect([upstream.requests[0]!.url, upstream.requests[0]!.body]).toEqual(["/a", SMUGGLED])
      const response = yield* readResponse(conn)
      expect(response.status).toBe(200)
      expect(yield* decisions.next).toMatchObject({ host: "up.test", decision: "allowed", bytesUp: SMUGGLED.length })
      const after = yield* request(proxy.port, getRequest(`http://${a}/after`, a))
      expect(after.status).toBe(200)
      expect(upstream.requests.map((r) => r.url)).toEqual(["/a", "/after"])
    }))

  it.scopedLive("a GET whose Content-Length sits past Node's rawHeaders limit (1999 headers before it) — the forwarded head still declares the body", () =>
    Effect.gen(function*() {
      const arrived = watch()
      let bytes = ""
      const upstream = yield* listenNet((socket) =>
        socket.on("data", (chunk: Buffer) => {
          bytes += chunk.toString("latin1")
          arrived.notify()
        })
      )
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const conn = yield* open(proxy.port)
      yield* conn.write(`GET http://${a}/a HTTP/1.1\r\nHost: ${a}\r\n${"a: 1\r\n".repeat(1999)}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`)
      // The body arrives whole (Content-Length, or raw) or as a last chunk (chunked).
      yield* guard(arrived.when(() => bytes.endsWith(SMUGGLED) || bytes.endsWith("\r\n0\r\n\r\n")), "the body at the upstream")
      const head = bytes.slice(0, bytes.indexOf("\r\n\r\n")).split("\r\n")
      // Without Content-Length or Transfer-Encoding, the upstream reads the body as a second request.
      const framing = head.filter((line) => /^(content-length|transfer-encoding):/i.test(line))
      expect(framing.map((line) => line.toLowerCase())).toSatisfy((lines: Array<string>) =>
        lines.length === 1 && (lines[0] === `content-length: ${SMUGGLED.length}` || lines[0] === "transfer-encoding: chunked"))
    }))

  it.scopedLive("a POST with a chunked body and trailers: the body is forwarded chunked, the trailer fields are not", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(
        proxy.port,
        `POST http://${a}/t HTTP/1.1\r\nHost: ${a}\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n` +
          `5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\nProxy-Authorization: Basic c2VjcmV0\r\n\r\n`
      )
      expect(response.status).toBe(200)
      expect(upstream.requests).toEqual([{
        method: "POST",
        url: "/t",
        rawHeaders: ["Host", a, "Transfer-Encoding", "chunked", "Connection", "keep-alive"],
        body: "hello world"
      }])
      expectRecord(yield* decisions.next, allowedHttp("up.test", upstream.port, Buffer.byteLength(response.body), 11))
    }))
})

// ---------------------------------------------------------------------------------------------
// 3. Target and authority spellings
// ---------------------------------------------------------------------------------------------

describe("target and authority spellings", () => {
  it.scopedLive("HTTP://UP.TEST:<port>/X with Host Up.Test.:<port> is the same authority: forwarded with the canonical Host", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, getRequest(`HTTP://UP.TEST:${upstream.port}/X`, `Up.Test.:${upstream.port}`))
      expect(response.status).toBe(200)
      expect(upstream.requests.map((r) => [r.url, r.rawHeaders])).toEqual([
        ["/X", ["Host", `up.test:${upstream.port}`, "Connection", "keep-alive"]]
      ])
      expectRecord(yield* decisions.next, allowedHttp("up.test", upstream.port, Buffer.byteLength(response.body)))
    }))

  const badAbsolute: ReadonlyArray<readonly [string, (port: number) => string, (port: number) => string]> = [
    ["an empty host http:///x", () => "http:///x", () => "(empty)"],
    ["a port without a host http://:<port>/", (p) => `http://:${p}/`, (p) => `:${p}`],
    ["an unbracketed IPv6 host http://::1:<port>/", (p) => `http://::1:${p}/`, (p) => `::1:${p}`],
    ["an unclosed bracket http://[::1/", () => "http://[::1/", () => "[::1"],
    ["userinfo that looks like the allowed authority http://up.test:<port>@evil.test/", (p) => `http://up.test:${p}@evil.test/`, () => "evil.test"],
    ["two ports http://up.test:<port>:<port>/", (p) => `http://up.test:${p}:${p}/`, (p) => `up.test:${p}:${p}`],
    ["a signed port http://up.test:+<port>/", (p) => `http://up.test:+${p}/`, (p) => `up.test:?${p}`]
  ]

  it.scopedLive.each(badAbsolute)("%s is 400 invalid-authority and reaches no upstream", ([, target, recorded]) =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, getRequest(target(upstream.port), a))
      expect(response.status).toBe(400)
      expect(response.headers["proxy-status"]).toMatch(/^warrant; error=http_request_error; /)
      expectRecord(yield* decisions.next, { kind: "http", host: recorded(upstream.port), decision: "blocked", reason: "invalid-authority" })
      expect(upstream.requests.length).toBe(0)
    }))

  const parserRejects: ReadonlyArray<readonly [string, (port: number) => string]> = [
    ["a backslash before userinfo http://up.test:<port>\\@evil.test/", (p) => `http://up.test:${p}\\@evil.test/`],
    ["a fragment hiding the allowed host http://evil.test#@up.test:<port>/", (p) => `http://evil.test#@up.test:${p}/`]
  ]

  it.scopedLive.each(parserRejects)("%s is rejected by the parser: 400, no record, nothing upstream", ([, target]) =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const rejected = yield* send(proxy.port, getRequest(target(upstream.port), a))
      expect(rejected.status).toBe(400)
      expect(rejected.headers["proxy-status"]).toBe(`warrant; error=http_request_error; details="malformed HTTP request"`)
      yield* rejected.conn.waitClosed()
      const ok = yield* request(proxy.port, getRequest(`http://${a}/after`, a))
      expect(ok.status).toBe(200)
      expect((yield* decisions.next).id).toBe(0)
      expect(upstream.requests.map((r) => r.url)).toEqual(["/after"])
    }))

  const badConnect: ReadonlyArray<readonly [string, (port: number) => string, (port: number) => string]> = [
    ["a path after the port up.test:<port>/path", (p) => `up.test:${p}/path`, (p) => `up.test:${p}?path`],
    ["no port on a bracketed host [::1]", () => "[::1]", () => "[::1]"],
    ["an unbracketed IPv6 host ::1:<port>", (p) => `::1:${p}`, (p) => `::1:${p}`],
    ["two ports up.test:<port>:1", (p) => `up.test:${p}:1`, (p) => `up.test:${p}:1`],
    ["an empty port up.test:", () => "up.test:", () => "up.test:"]
  ]

  it.scopedLive.each(badConnect)("CONNECT with %s is 400 invalid-authority, closes, and dials nothing", ([, target, recorded]) =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest(target(echo.port), `up.test:${echo.port}`))
      expect(response.status).toBe(400)
      yield* response.conn.waitClosed()
      expectRecord(yield* decisions.next, { kind: "connect", host: recorded(echo.port), decision: "blocked", reason: "invalid-authority" })
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive("CONNECT up.test:0443 is decided and dialled as port 443, never as another port", () =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["up.test"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest("up.test:0443", "up.test:443"))
      expect(response.status).toBe(502)
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

  it.scopedLive("CONNECT up.test:<port> with Host UP.TEST.:<port> is the same authority and tunnels", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* tunnel(proxy.port, `up.test:${echo.port}`, `UP.TEST.:${echo.port}`)
      expect(yield* roundTrip(conn, "same")).toBe("same")
      yield* conn.end()
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

  it.scopedLive("CONNECT up.test:<port> with a Host that omits the port (so 443) is 421 host-mismatch and dials nothing", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([`up.test:${echo.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest(`up.test:${echo.port}`, "up.test"))
      expect(response.status).toBe(421)
      yield* response.conn.waitClosed()
      expectRecord(yield* decisions.next, { kind: "connect", host: "up.test", port: echo.port, decision: "blocked", reason: "host-mismatch" })
      expect(echo.accepted()).toBe(0)
    }))
})

// ---------------------------------------------------------------------------------------------
// 4. Headers and secrets
// ---------------------------------------------------------------------------------------------

describe("headers and secrets", () => {
  it.scopedLive("Connection naming host and proxy-authorization cannot smuggle a second Host or the credentials upstream", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(
        proxy.port,
        getRequest(
          `http://${a}/c`,
          a,
          "Connection: host, proxy-authorization, x-private\r\nProxy-Authorization: Basic c2VjcmV0\r\nX-Private: 1\r\nX-Ok: 1\r\n"
        )
      )
      expect(response.status).toBe(200)
      expect(upstream.requests[0]!.rawHeaders).toEqual(["Host", a, "X-Ok", "1", "Connection", "keep-alive"])
      const record = yield* decisions.next
      expectRecord(record, allowedHttp("up.test", upstream.port, Buffer.byteLength(response.body)))
      expect(JSON.stringify(record)).not.toContain("c2VjcmV0")
    }))

  it.scopedLive("a second Host after 1000 headers (past Node's `headers` limit) is still seen: 400 invalid-authority, nothing upstream", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, getRequest(`http://${a}/m`, a, `${"a: 1\r\n".repeat(1000)}Host: evil.test\r\n`))
      expect(response.status).toBe(400)
      expect(response.body).toBe("warrant egress: the request carries more than one Host header\n")
      expectRecord(yield* decisions.next, { kind: "http", host: "up.test", port: upstream.port, decision: "blocked", reason: "invalid-authority" })
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive("Proxy-Authorization and a Connection option after 1000 headers are still honoured: neither crosses the proxy", () =>
    Effect.gen(function*() {
      const heads: Array<string> = []
      const seen = counter()
      const upstream = yield* listenNet((socket) => {
        let text = ""
        socket.on("data", (chunk: Buffer) => {
          text += chunk.toString("latin1")
          const end = text.indexOf("\r\n\r\n")
          if (end < 0) return
          heads.push(text.slice(0, end))
          text = text.slice(end + 4)
          seen.set(heads.length)
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        })
      })
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(
        proxy.port,
        getRequest(
          `http://${a}/m`,
          a,
          `X-Private: 1\r\n${"a: 1\r\n".repeat(1000)}Connection: x-private\r\nProxy-Authorization: Basic c2VjcmV0\r\nX-After: 1\r\n`
        )
      )
      expect(response.status).toBe(200)
      yield* seen.reached(1)
      const lines = heads[0]!.split("\r\n")
      expect(lines[0]).toBe("GET /m HTTP/1.1")
      expect(lines.slice(1).filter((l) => l !== "a: 1")).toEqual([`Host: ${a}`, "X-After: 1", "Connection: keep-alive"])
      expect(lines.filter((l) => l === "a: 1").length).toBe(1000)
      expectRecord(yield* decisions.next, allowedHttp("up.test", upstream.port, 2))
    }))

  const secrets: ReadonlyArray<readonly [string, string, string, EgressDecision["reason"]]> = [
    ["origin-form with userinfo in Host", "GET / HTTP/1.1\r\nHost: user:secret@up.test\r\n\r\n", "up.test", "unsupported-request"],
    ["an ftp:// target with userinfo", "GET ftp://user:secret@up.test/ HTTP/1.1\r\nHost: up.test\r\n\r\n", "up.test", "unsupported-request"],
    ["userinfo whose password holds an @", "GET http://user:se@cret@up.test/ HTTP/1.1\r\nHost: up.test\r\n\r\n", "up.test", "invalid-authority"],
    ["userinfo with an empty host", "GET http://user:secret@/ HTTP/1.1\r\nHost: up.test\r\n\r\n", "(empty)", "invalid-authority"],
    ["an Upgrade whose Host has userinfo", "GET / HTTP/1.1\r\nHost: user:secret@up.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "up.test", "unsupported-request"],
    ["a CONNECT with userinfo and a password holding a colon", "CONNECT user:sec:ret@up.test:443 HTTP/1.1\r\nHost: up.test:443\r\n\r\n", "up.test:443", "invalid-authority"]
  ]

  it.scopedLive.each(secrets)("%s: the password appears neither in the record nor in the refusal", ([, bytes, host, reason]) =>
    Effect.gen(function*() {
      const proxy = yield* startProxy(allow(["up.test"]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(bytes)
      const text = (yield* conn.readToClose()).toString("latin1")
      expect(text).toMatch(/^HTTP\/1\.1 [45]\d\d /)
      expect(text).not.toMatch(/secret|sec:ret|cret/)
      const record = yield* decisions.next
      expect([record.host, record.decision, record.reason]).toEqual([host, "blocked", reason])
      expect(JSON.stringify(record)).not.toMatch(/secret|sec:ret|cret/)
    }))

  it.scopedLive("a hostile upstream's hop-by-hop, Connection-named and Proxy-* response headers never reach the client", () =>
    Effect.gen(function*() {
      const body = "ok"
      const upstream = yield* rawHttpUpstream(
        "HTTP/1.1 200 OK\r\nConnection: close, X-A\r\nX-A: 1\r\nKeep-Alive: timeout=1\r\nProxy-Connection: keep-alive\r\n" +
          "Proxy-Authenticate: Basic realm=x\r\nProxy-Authorization: Basic c2VjcmV0\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n" +
          `X-Kept: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      )
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const response = yield* request(proxy.port, getRequest(`http://${a}/`, a))
      expect(response.status).toBe(200)
      expect(response.body).toBe(body)
      expect(Object.keys(response.headers).sort()).toEqual(["connection", "content-length", "date", "keep-alive", "x-kept"])
      expect(response.headers["connection"]).toBe("keep-alive")
      expectRecord(yield* decisions.next, allowedHttp("up.test", upstream.port, body.length))
    }))

  it.scopedLive("Expect: 100-continue to a blocked host: Node invites the body before the decision, but the body reaches no one and the connection closes", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const proxy = yield* startProxy(allow([`up.test:${upstream.port}`]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      const blocked = `127.0.0.1:${upstream.port}`
      yield* conn.write(`POST http://${blocked}/x HTTP/1.1\r\nHost: ${blocked}\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n`)
      const interim = yield* conn.readHead()
      expect(interim.statusLine).toBe("HTTP/1.1 100 Continue")
      const final = yield* conn.readHead()
      expect(final.status).toBe(403)
      yield* conn.write("secret")
      yield* conn.waitClosed()
      expectRecord(yield* decisions.next, { kind: "http", host: "127.0.0.1", port: upstream.port, decision: "blocked", reason: "not-allowlisted" })
      expect(upstream.requests.length).toBe(0)
    }))

  it.scopedLive("an unknown Expect is answered 417 by Node before the proxy sees it: nothing upstream and (as for other parser-level answers) no record", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(`POST http://${a}/x HTTP/1.1\r\nHost: ${a}\r\nExpect: anything\r\nContent-Length: 6\r\n\r\nsecret`)
      const head = yield* conn.readHead()
      expect(head.status).toBe(417)
      expect(yield* readBody({ conn, ...head })).toBe("")
      yield* conn.write(getRequest(`http://${a}/after`, a))
      const after = yield* readResponse(conn)
      expect(after.status).toBe(200)
      expect(upstream.requests.map((r) => r.url)).toEqual(["/after"])
      expect((yield* decisions.next).id).toBe(0)
    }))
})

// ---------------------------------------------------------------------------------------------
// 5. A hostile (allowed) upstream
// ---------------------------------------------------------------------------------------------

describe("a hostile upstream", () => {
  const badReasons: ReadonlyArray<readonly [string, string]> = [
    ["a control character in the reason phrase", "HTTP/1.1 200 O\u0001K\r\nContent-Length: 2\r\n\r\nhi"],
    ["a DEL in the reason phrase", "HTTP/1.1 200 O\u007fK\r\nContent-Length: 2\r\n\r\nhi"]
  ]

  it.scopedLive.each(badReasons)("a response with %s is relayed with Node's own reason phrase, never an uncaught exception (which ends the process)", ([, reply]) =>
    Effect.gen(function*() {
      const trap = yield* trapUncaught
      const upstream = yield* rawHttpUpstream(reply)
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/`, a))
      yield* guard(Effect.raceFirst(conn.waitResponseOrClose(), trap.first), "a response or a crash")
      expect(trap.errors.map((e) => e.message)).toEqual([])
      const head = yield* conn.readHead()
      expect(head.statusLine).toBe("HTTP/1.1 200 OK")
      expect(yield* readBody({ conn, ...head })).toBe("hi")
      expectRecord(yield* decisions.next, allowedHttp("up.test", upstream.port, 2))
    }))

  it.scopedLive("a response with a status code below 100 is a 502 for the client, never an uncaught exception (which ends the process)", () =>
    Effect.gen(function*() {
      const trap = yield* trapUncaught
      const upstream = yield* rawHttpUpstream("HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nhi")
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/`, a))
      yield* guard(Effect.raceFirst(conn.waitResponseOrClose(), trap.first), "a response or a crash")
      expect(trap.errors.map((e) => e.message)).toEqual([])
      const head = yield* conn.readHead()
      expect(head.status).toBe(502)
      expect((yield* decisions.next).upstreamError).toMatch(/^unusable response head: /)
    }))

  it.scopedLive("an unrequested 101 Switching Protocols from the upstream is a 502 at once, not a request left hanging with no answer", () =>
    Effect.gen(function*() {
      const upstream = yield* rawHttpUpstream("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: evil\r\n\r\nRAW-UNMETERED")
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(getRequest(`http://${a}/`, a))
      yield* guard(conn.waitResponseOrClose(), "any answer to the client")
      expect(conn.pending.toString("latin1")).not.toContain("RAW-UNMETERED")
      const head = yield* conn.readHead()
      expect(head.status).toBe(502)
      const record = yield* guard(decisions.next, "the record")
      expect([record.decision, record.upstreamError]).toEqual(["allowed", expect.any(String)])
      expect(yield* proxy.active).toBe(0)
    }))

  it.scopedLive("a response cut short (Content-Length 100, 10 bytes, then close) closes the client and records the failed transfer as upstreamError", () =>
    Effect.gen(function*() {
      const upstream = yield* listenNet((socket) =>
        socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"))
      )
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const exchange = yield* send(proxy.port, getRequest(`http://${a}/`, a))
      expect(exchange.status).toBe(200)
      expect(exchange.headers["content-length"]).toBe("100")
      expect((yield* exchange.conn.readToClose()).toString("latin1")).toBe("0123456789")
      const record = yield* decisions.next
      expect([record.decision, record.bytesDown]).toEqual(["allowed", 10])
      expect(record.upstreamError).toEqual(expect.any(String))
    }))

  it.scopedLive("an early final response (413 before the body is read): every body byte that reaches the upstream is counted in the record, and both connections end", () =>
    Effect.gen(function*() {
      const bodyLength = 2_000_000
      const got = counter()
      const ended = counter()
      const server = yield* Effect.acquireRelease(
        Effect.async<{ port: number; close: () => void }>((resume) => {
          const s = createHttpServer((req: IncomingMessage, res) => {
            req.on("data", (chunk: Buffer) => got.set(got.get() + chunk.length))
            req.socket.on("close", () => ended.set(1))
            res.writeHead(413, { "content-length": "0" })
            res.end()
          })
          s.listen({ host: "127.0.0.1", port: 0 }, () => {
            const address = s.address()
            resume(Effect.succeed({
              port: typeof address === "object" && address !== null ? address.port : 0,
              close: () => {
                s.closeAllConnections()
                s.close()
              }
            }))
          })
        }),
        ({ close }) => Effect.sync(close)
      )
      const a = `127.0.0.1:${server.port}`
      const proxy = yield* startProxy(allow([a]))
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(`POST http://${a}/upload HTTP/1.1\r\nHost: ${a}\r\nContent-Length: ${bodyLength}\r\n\r\n${"a".repeat(1000)}`)
      const head = yield* conn.readHead()
      expect(head.status).toBe(413)
      yield* conn.write(Buffer.alloc(bodyLength - 1000, 0x62))
      yield* guard(ended.reached(1), "the upstream request completing or being aborted")
      const record = yield* guard(decisions.next, "the record")
      expect(record.bytesUp).toBe(got.get())
    }))
})

// ---------------------------------------------------------------------------------------------
// 6. DNS answers and the metadata endpoints
// ---------------------------------------------------------------------------------------------

describe("hostile DNS answers", () => {
  const answers: ReadonlyArray<readonly [string, NetworkPolicy["defaultDeny"], ReadonlyArray<string>, string]> = [
    ["IPv4-mapped metadata ::ffff:169.254.169.254 under default allow", false, ["::ffff:169.254.169.254"], "169.254.169.254"],
    ["IPv4-compatible metadata ::a9fe:a9fe under default allow", false, ["::a9fe:a9fe"], "169.254.169.254"],
    ["6to4-wrapped metadata 2002:a9fe:a9fe::1 under default allow", false, ["2002:a9fe:a9fe::1"], "2002:a9fe:a9fe::1"],
    ["Teredo-wrapped metadata client address under default allow", false, ["2001:0:4136:e378:8000:63bf:5601:5601"], "2001:0:4136:e378:8000:63bf:5601:5601"],
    ["NAT64 loopback 64:ff9b::7f00:1 with allowAddresses 127.0.0.1", true, ["64:ff9b::7f00:1"], "64:ff9b::7f00:1"],
    ["0.0.0.0 (reaches this host) with allowAddresses 127.0.0.1", true, ["0.0.0.0"], "0.0.0.0"],
    [":: (reaches this host) with allowAddresses 127.0.0.1", true, ["::"], "::"],
    ["127.0.0.1 then ::1 with allowAddresses 127.0.0.1 only", true, ["127.0.0.1", "::1"], "::1"]
  ]

  it.scopedLive.each(answers)("an answer of %s is address-refused for CONNECT and http, with no dial", ([, defaultDeny, answer, refused]) =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const resolver = Resolver.layerStatic({ "hostile.test": answer })
      const policy: NetworkPolicy = defaultDeny
        ? allow([`hostile.test:${echo.port}`])
        : { defaultDeny: false, allowHosts: [] }
      const proxy = yield* startProxy(policy, undefined, resolver)
      const decisions = yield* collectDecisions(proxy)
      const authority = `hostile.test:${echo.port}`
      const tunnelResponse = yield* send(proxy.port, connectRequest(authority))
      expect(tunnelResponse.status).toBe(403)
      yield* tunnelResponse.conn.waitClosed()
      const plain = yield* request(proxy.port, getRequest(`http://${authority}/`, authority))
      expect(plain.status).toBe(403)
      const [first, second] = yield* decisions.take(2)
      const blocked = { host: "hostile.test", port: echo.port, decision: "blocked", reason: "address-refused", resolvedAddress: refused } as const
      expectRecord(first!, { kind: "connect", ...blocked })
      expectRecord(second!, { kind: "http", ...blocked })
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive.each([
    "169.254.169.254",
    "169.254.170.2",
    "169.254.170.23",
    "[fd00:ec2::254]",
    "100.100.100.200",
    "[::ffff:a9fe:a9fe]"
  ])("defaultDeny: false with allowAddresses 169.254.0.0/16, fc00::/7, 100.64.0.0/10: metadata %s stays refused", (literal) =>
    Effect.gen(function*() {
      const proxy = yield* startProxy({
        defaultDeny: false,
        allowHosts: [],
        allowAddresses: ["169.254.0.0/16", "fc00::/7", "100.64.0.0/10", "::ffff:169.254.0.0/112"]
      })
      const decisions = yield* collectDecisions(proxy)
      const response = yield* send(proxy.port, connectRequest(`${literal}:80`))
      expect(response.status).toBe(403)
      expect(response.headers["proxy-status"]).toMatch(/^warrant; error=destination_ip_prohibited; /)
      const record = yield* decisions.next
      expect([record.decision, record.reason]).toEqual(["blocked", "address-refused"])
      expect(yield* proxy.active).toBe(0)
    }))
})

// ---------------------------------------------------------------------------------------------
// 7. Backpressure, teardown and abandoned connections
// ---------------------------------------------------------------------------------------------

describe("backpressure and teardown", () => {
  it.scopedLive("a tunnel client that stops reading pauses the upstream; memory stays bounded; reading again resumes; every byte is recorded", () =>
    Effect.gen(function*() {
      const fire = yield* firehose
      const proxy = yield* startProxy(allow([`127.0.0.1:${fire.port}`]))
      const decisions = yield* collectDecisions(proxy)
      const received = counter()
      const finished = counter()
      const client = yield* Effect.acquireRelease(
        Effect.async<Socket>((resume) => {
          const socket = connect({ host: "127.0.0.1", port: proxy.port })
          socket.on("error", () => {})
          socket.on("data", (chunk: Buffer) => received.set(received.get() + chunk.length))
          socket.on("end", () => {
            finished.set(1)
            socket.end()
          })
          socket.once("connect", () => resume(Effect.succeed(socket)))
        }),
        (socket) => Effect.sync(() => socket.destroy())
      )
      client.pause()
      client.write(connectRequest(`127.0.0.1:${fire.port}`))
      yield* guard(fire.handed.reached(1 << 20), "the first MiB leaving the upstream")
      const before = process.memoryUsage().arrayBuffers
      // The one timed wait: 64 MiB would take well under 100 ms on loopback without backpressure.
      const flooded = yield* Effect.option(Effect.timeout(fire.handed.reached(64 << 20), "400 millis"))
      expect(Option.isNone(flooded)).toBe(true)
      expect(fire.handed.get()).toBeLessThan(64 << 20)
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 << 20)
      const stalledAt = fire.handed.get()
      client.resume()
      yield* guard(fire.handed.reached(stalledAt + (8 << 20)), "8 MiB more once the client reads again", 3_000)
      fire.stop()
      yield* guard(finished.reached(1), "the end of the stream at the client", 3_000)
      const record = yield* guard(decisions.next, "the tunnel's record")
      const head = "HTTP/1.1 200 Connection Established\r\n\r\n".length
      expect(received.get()).toBe(head + fire.total())
      expectRecord(record, {
        kind: "connect",
        host: "127.0.0.1",
        port: fire.port,
        decision: "allowed",
        reason: "allowlisted",
        resolvedAddress: "127.0.0.1",
        bytesUp: 0,
        bytesDown: fire.total()
      })
    }))

  it.scopedLive("a refused CONNECT closes the socket even when the client keeps writing, and a 1 MiB pipelined head goes nowhere", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const proxy = yield* startProxy(allow([]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const target = `127.0.0.1:${echo.port}`
      const conn = yield* open(proxy.port)
      yield* conn.write(connectRequest(target) + "x".repeat(1 << 20))
      const head = yield* conn.readHead()
      expect(head.status).toBe(403)
      yield* conn.write("more bytes after the refusal")
      yield* guard(conn.waitClosed(), "the proxy closing the refused socket")
      expectRecord(yield* decisions.next, { kind: "connect", host: "127.0.0.1", port: echo.port, decision: "blocked", reason: "not-allowlisted" })
      expect(echo.accepted()).toBe(0)
    }))

  it.scopedLive("a CONNECT reset by the client while its dial is in flight is still recorded and frees its slot", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const target = `127.0.0.1:${echo.port}`
      const proxy = yield* startProxy(allow([target]), { maxTunnels: 1 })
      const decisions = yield* collectDecisions(proxy)
      const conn = yield* open(proxy.port)
      yield* conn.write(connectRequest(target))
      yield* Effect.sync(() => conn.socket.resetAndDestroy())
      const record = yield* guard(decisions.next, "the reset tunnel's record")
      expect([record.kind, record.host, record.decision, record.reason]).toEqual(["connect", "127.0.0.1", "allowed", "allowlisted"])
      expect(yield* proxy.active).toBe(0)
      const next = yield* tunnel(proxy.port, target)
      expect(yield* roundTrip(next, "next")).toBe("next")
    }))

  it.scopedLive("30 connections abandoned mid-request (stalled response, half-sent body, half-sent headers): 20 records, no slot kept, the proxy serves on", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const a = `up.test:${upstream.port}`
      const proxy = yield* startProxy(allow([a]), undefined, names)
      const decisions = yield* collectDecisions(proxy)
      const stalled = yield* Effect.all(
        Array.from({ length: 10 }, (_, i) =>
          Effect.tap(open(proxy.port), (conn) => conn.write(getRequest(`http://${a}/stall-${i}`, a)))),
        { concurrency: "unbounded" }
      )
      yield* upstream.received(10)
      const uploads = yield* Effect.all(
        Array.from({ length: 10 }, (_, i) =>
          Effect.gen(function*() {
            const conn = yield* open(proxy.port)
            yield* conn.write(`POST http://${a}/up-${i} HTTP/1.1\r\nHost: ${a}\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n`)
            expect((yield* conn.readHead()).status).toBe(100)
            yield* conn.write("partial body")
            return conn
          })),
        { concurrency: "unbounded" }
      )
      const halfHeaders = yield* Effect.all(
        Array.from({ length: 10 }, () => Effect.tap(open(proxy.port), (conn) => conn.write(`GET http://${a}/never HTTP/1.1\r\nHo`))),
        { concurrency: "unbounded" }
      )
      yield* Effect.forEach([...stalled, ...uploads, ...halfHeaders], (conn) => conn.destroy())
      const records = yield* guard(decisions.take(20), "20 records")
      expect(records.every((r) => r.decision === "allowed" && r.host === "up.test")).toBe(true)
      expect(records.filter((r) => r.bytesUp === "partial body".length).length).toBe(10)
      expect(yield* proxy.active).toBe(0)
      const ok = yield* request(proxy.port, getRequest(`http://${a}/after`, a))
      expect(ok.status).toBe(200)
    }))
})

/**
 * Real-socket helpers for the egress proxy tests: loopback upstreams (an HTTP echo that
 * reports what it received, a TCP echo for tunnels), a raw client that writes exact bytes and
 * reads exact bytes back, and a collector for the decisions stream. Everything waits on
 * socket events or Deferreds, never on a timer.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer as createHttpServer, type IncomingMessage } from "node:http"
import { connect, createServer as createNetServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Chunk, Effect, Fiber, Layer, Queue, type Scope, Stream } from "effect"
import type { NetworkPolicy } from "../../../src/protocol/Network.js"
import type { EgressDecision } from "../../../src/egress/EgressDecision.js"
import * as EgressProxy from "../../../src/egress/EgressProxy.js"
import type { EgressOptions } from "../../../src/egress/ProxyContext.js"
import * as Resolver from "../../../src/egress/Resolver.js"

// ---------------------------------------------------------------------------------------------
// Upstreams
// ---------------------------------------------------------------------------------------------

/** One request as the upstream HTTP server saw it. */
export interface ReceivedRequest {
  readonly method: string
  readonly url: string
  /** Name, value, name, value, … exactly as received. */
  readonly rawHeaders: ReadonlyArray<string>
  readonly body: string
}

export interface HttpUpstream {
  readonly port: number
  /** Every request received so far, in arrival order. */
  readonly requests: ReadonlyArray<ReceivedRequest>
  /** Resolves once at least `n` requests have arrived. */
  readonly received: (n: number) => Effect.Effect<void>
}

const closeServer = (server: { close: (cb: () => void) => unknown }, sockets: Set<Socket>) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    for (const socket of sockets) socket.destroy()
  })

/**
 * An HTTP server on 127.0.0.1 (ephemeral port) that answers every request with 200 and a
 * JSON body `{ method, url, rawHeaders, body }` describing what it received. A path
 * starting `/stall` is never answered; one starting `/hop` is answered with hop-by-hop
 * response headers (`Connection: X-Hop-Secret`, `X-Hop-Secret`, `Proxy-Authenticate`) and an
 * ordinary `X-Kept: 1`.
 */
export const httpUpstream: Effect.Effect<HttpUpstream, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<{ upstream: HttpUpstream; close: Effect.Effect<void> }>((resume) => {
    const requests: Array<ReceivedRequest> = []
    const waiters = new Set<() => void>()
    const received = (n: number) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (requests.length >= n) {
            waiters.delete(check)
            resume(Effect.void)
          }
        }
        waiters.add(check)
        check()
        return Effect.sync(() => waiters.delete(check))
      })
    const sockets = new Set<Socket>()
    const server = createHttpServer((request: IncomingMessage, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const seen: ReceivedRequest = {
          method: request.method ?? "",
          url: request.url ?? "",
          rawHeaders: [...request.rawHeaders],
          body: Buffer.concat(chunks).toString("latin1")
        }
        requests.push(seen)
        for (const waiter of [...waiters]) waiter()
        // Never answered: the connection stays open until the client or the scope ends it.
        if (seen.url.startsWith("/stall")) return
        const body = JSON.stringify(seen)
        response.writeHead(200, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "x-upstream": "yes",
          // Hop-by-hop response headers the proxy must not pass back to the client.
          ...(seen.url.startsWith("/hop")
            ? { connection: "X-Hop-Secret", "x-hop-secret": "1", "proxy-authenticate": "Basic realm=up", "x-kept": "1" }
            : {})
        })
        response.end(body)
      })
    })
    server.on("connection", (socket: Socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({ upstream: { port, requests, received }, close: closeServer(server, sockets) }))
    })
  }),
  ({ close }) => close
).pipe(Effect.map(({ upstream }) => upstream))

export interface EchoUpstream {
  readonly port: number
  /** Connections accepted so far. */
  readonly accepted: () => number
}

/** A TCP server on 127.0.0.1 that writes back every byte it receives. */
export const echoUpstream: Effect.Effect<EchoUpstream, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<{ upstream: EchoUpstream; close: Effect.Effect<void> }>((resume) => {
    const sockets = new Set<Socket>()
    let accepted = 0
    const server = createNetServer((socket) => {
      accepted++
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => {})
      socket.pipe(socket)
    })
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({ upstream: { port, accepted: () => accepted }, close: closeServer(server, sockets) }))
    })
  }),
  ({ close }) => close
).pipe(Effect.map(({ upstream }) => upstream))

// ---------------------------------------------------------------------------------------------
// Raw client
// ---------------------------------------------------------------------------------------------

export interface ResponseHead {
  readonly status: number
  readonly statusLine: string
  /** Lower-cased names; a repeated header keeps its last value. */
  readonly headers: Readonly<Record<string, string>>
}

export class ClosedEarly {
  readonly _tag = "ClosedEarly"
  constructor(readonly received: string) {}
}

/**
 * A client connection that buffers everything it receives, so reads never miss bytes that
 * arrived before anyone asked for them. Every wait resolves on a `data` or `close` event.
 */
export class Conn {
  private buffer: Buffer = Buffer.alloc(0)
  private isClosed = false
  private readonly waiters = new Set<() => void>()
  readonly closedSignal: Promise<void>

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      this.notify()
    })
    socket.on("error", () => {})
    this.closedSignal = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true
        this.notify()
        resolve()
      })
    )
  }

  private notify() {
    for (const waiter of [...this.waiters]) waiter()
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Bytes received and not yet consumed. */
  get pending(): Buffer {
    return this.buffer
  }

  /** Resolves once `ready` holds for the buffer, or the socket has closed. */
  private until(ready: (buffer: Buffer) => boolean): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const check = () => {
        if (ready(this.buffer) || this.isClosed) {
          this.waiters.delete(check)
          resume(Effect.void)
        }
      }
      this.waiters.add(check)
      check()
      return Effect.sync(() => this.waiters.delete(check))
    })
  }

  write(bytes: string | Uint8Array): Effect.Effect<void> {
    return Effect.sync(() => {
      this.socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes)
    })
  }

  /** Half-closes: no more bytes from this side. */
  end(): Effect.Effect<void> {
    return Effect.sync(() => void this.socket.end())
  }

  destroy(): Effect.Effect<void> {
    return Effect.sync(() => void this.socket.destroy())
  }

  /** Waits for the `close` event. */
  waitClosed(): Effect.Effect<void> {
    return Effect.promise(() => this.closedSignal)
  }

  /** Reads a response head (up to `\r\n\r\n`) and consumes it. */
  readHead(): Effect.Effect<ResponseHead, ClosedEarly> {
    return Effect.flatMap(this.until((b) => b.indexOf("\r\n\r\n") >= 0), () => {
      const end = this.buffer.indexOf("\r\n\r\n")
      if (end < 0) return Effect.fail(new ClosedEarly(this.buffer.toString("latin1")))
      const text = this.buffer.subarray(0, end).toString("latin1")
      this.buffer = this.buffer.subarray(end + 4)
      const [statusLine = "", ...lines] = text.split("\r\n")
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? "0")
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(":")
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      return Effect.succeed({ status, statusLine, headers })
    })
  }

  /** Reads exactly `n` bytes, failing if the socket closes first. */
  readBytes(n: number): Effect.Effect<Buffer, ClosedEarly> {
    return Effect.flatMap(this.until((b) => b.length >= n), () => {
      if (this.buffer.length < n) return Effect.fail(new ClosedEarly(this.buffer.toString("latin1")))
      const out = this.buffer.subarray(0, n)
      this.buffer = this.buffer.subarray(n)
      return Effect.succeed(Buffer.from(out))
    })
  }

  /** One line ending in CRLF, without the CRLF. */
  readLine(): Effect.Effect<string, ClosedEarly> {
    return Effect.flatMap(this.until((b) => b.indexOf("\r\n") >= 0), () => {
      const end = this.buffer.indexOf("\r\n")
      if (end < 0) return Effect.fail(new ClosedEarly(this.buffer.toString("latin1")))
      const line = this.buffer.subarray(0, end).toString("latin1")
      this.buffer = this.buffer.subarray(end + 2)
      return Effect.succeed(line)
    })
  }

  /** A chunked body (RFC 9112 §7.1), decoded; trailers are not expected. */
  readChunked(): Effect.Effect<Buffer, ClosedEarly> {
    const self = this
    return Effect.gen(function*() {
      const parts: Array<Buffer> = []
      for (;;) {
        const size = parseInt((yield* self.readLine()).split(";")[0]!.trim(), 16)
        if (!Number.isFinite(size)) return yield* Effect.fail(new ClosedEarly("bad chunk size"))
        if (size === 0) {
          yield* self.readLine()
          return Buffer.concat(parts)
        }
        parts.push(yield* self.readBytes(size))
        yield* self.readLine()
      }
    })
  }

  /** Everything until the peer closes. */
  readToClose(): Effect.Effect<Buffer> {
    return Effect.map(this.waitClosed(), () => {
      const out = this.buffer
      this.buffer = Buffer.alloc(0)
      return out
    })
  }

  /** Waits for the first byte of a response or the close, whichever comes first. */
  waitResponseOrClose(): Effect.Effect<void> {
    return this.until((b) => b.length > 0)
  }
}

export type Target = number | { readonly path: string }

/** Opens a socket to the proxy (TCP port on 127.0.0.1, or a Unix socket); destroyed with the scope. */
export const open = (target: Target): Effect.Effect<Conn, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Conn, Error>((resume) => {
      const socket = typeof target === "number"
        ? connect({ host: "127.0.0.1", port: target, noDelay: true })
        : connect({ path: target.path })
      const onError = (error: Error) => resume(Effect.fail(error))
      socket.once("error", onError)
      socket.once("connect", () => {
        socket.off("error", onError)
        resume(Effect.succeed(new Conn(socket)))
      })
    }),
    (conn) => conn.destroy()
  )

export interface Exchange {
  readonly conn: Conn
  readonly status: number
  readonly statusLine: string
  readonly headers: Readonly<Record<string, string>>
}

/** Opens a connection, writes `bytes`, and reads the response head. */
export const send = (target: Target, bytes: string | Uint8Array): Effect.Effect<Exchange, Error | ClosedEarly, Scope.Scope> =>
  Effect.gen(function*() {
    const conn = yield* open(target)
    yield* conn.write(bytes)
    const head = yield* conn.readHead()
    return { conn, ...head }
  })

/** The body of a response whose head was read: by Content-Length, chunked, else until close. */
export const readBody = (exchange: Exchange): Effect.Effect<string, ClosedEarly> => {
  const length = exchange.headers["content-length"]
  const body = length !== undefined
    ? exchange.conn.readBytes(Number(length))
    : exchange.headers["transfer-encoding"]?.toLowerCase() === "chunked"
    ? exchange.conn.readChunked()
    : exchange.conn.readToClose()
  return Effect.map(body, (b) => b.toString("latin1"))
}

/** A full response: head plus body. */
export const request = (target: Target, bytes: string) =>
  Effect.gen(function*() {
    const exchange = yield* send(target, bytes)
    const body = yield* readBody(exchange)
    return { ...exchange, body }
  })

/** A CONNECT request's bytes. */
export const connectRequest = (authority: string, host: string | null = authority, extra = "") =>
  `CONNECT ${authority} HTTP/1.1\r\n${host === null ? "" : `Host: ${host}\r\n`}${extra}\r\n`

/** An absolute-form GET's bytes. */
export const getRequest = (url: string, host: string | null, extra = "") =>
  `GET ${url} HTTP/1.1\r\n${host === null ? "" : `Host: ${host}\r\n`}${extra}\r\n`

// ---------------------------------------------------------------------------------------------
// Proxy and decisions
// ---------------------------------------------------------------------------------------------

/** Starts a proxy with `EgressProxy.layer` over the given resolver (default: every name is NXDOMAIN). */
export const startProxy = (
  policy: NetworkPolicy,
  options?: EgressOptions,
  resolver: Layer.Layer<Resolver.Resolver> = Resolver.layerStatic({})
) =>
  Effect.flatMap(EgressProxy.EgressProxy, (service) => service.start(policy, options)).pipe(
    Effect.provide(EgressProxy.layer.pipe(Layer.provide(resolver)))
  )

export interface Decisions {
  /** The next decision, in order; waits for it. */
  readonly next: Effect.Effect<EgressDecision>
  /** The next `n` decisions. */
  readonly take: (n: number) => Effect.Effect<ReadonlyArray<EgressDecision>>
  /** Decisions received and not yet taken. */
  readonly buffered: Effect.Effect<number>
}

/** Consumes the proxy's decisions stream in the background (for the rest of the scope). */
export const collectDecisions = (proxy: EgressProxy.RunningProxy): Effect.Effect<Decisions, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<EgressDecision>()
    yield* Effect.forkScoped(Stream.runForEach(proxy.decisions, (d) => Queue.offer(queue, d)))
    return {
      next: Queue.take(queue),
      take: (n) => Effect.map(Queue.takeBetween(queue, n, n), Chunk.toReadonlyArray),
      buffered: Queue.size(queue)
    }
  })

/** Runs the whole decisions stream to its end in a daemon fiber; join it after the proxy's scope closed. */
export const drainDecisions = (proxy: EgressProxy.RunningProxy) =>
  Effect.map(Effect.forkDaemon(Stream.runCollect(proxy.decisions)), (fiber) =>
    Effect.map(Fiber.join(fiber), Chunk.toReadonlyArray))

/** The fields a test pins down exactly. */
export const fieldsOf = (d: EgressDecision) => ({
  kind: d.kind,
  host: d.host,
  port: d.port,
  decision: d.decision,
  reason: d.reason,
  resolvedAddress: d.resolvedAddress,
  bytesUp: d.bytesUp,
  bytesDown: d.bytesDown,
  upstreamError: d.upstreamError
})

// ---------------------------------------------------------------------------------------------
// Misc
// ---------------------------------------------------------------------------------------------

/** A fresh directory under the system temp dir, removed with the scope. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "warrant-egress-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

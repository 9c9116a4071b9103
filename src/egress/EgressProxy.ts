/**
 * The egress proxy service: `start` runs one proxy for one NetworkPolicy as a scoped
 * resource — loopback listener (and optionally a Unix socket), its decisions as a stream —
 * and closing the scope closes the listeners and every open tunnel.
 */
import { chmod, lstat, unlink } from "node:fs/promises"
import { Agent, createServer, type Server } from "node:http"
import type { Socket } from "node:net"
import { Context, Effect, Either, FiberSet, Layer, Mailbox, Option, ParseResult, Schema, type Scope, Stream } from "effect"
import type { NetworkPolicy } from "../protocol/Network.js"
import { parseAddress } from "./Address.js"
import type { EgressDecision } from "./EgressDecision.js"
import { compile, type InvalidEgressPolicy } from "./EgressPolicy.js"
import { handleRequest, handleUpgrade } from "./Forward.js"
import { EgressOptions, makeConnections, makeSlots, type ProxyContext, type Settings, settingsOf } from "./ProxyContext.js"
import { layerSystem as systemResolver, Resolver } from "./Resolver.js"
import { classify } from "./Ranges.js"
import { handleConnect } from "./Tunnel.js"
import { rawRefusal } from "./Wire.js"

export class EgressStartFailed extends Schema.TaggedError<EgressStartFailed>()("EgressStartFailed", {
  reason: Schema.Literal("invalid-options", "listen-failed"),
  detail: Schema.String
}) {
  override get message() {
    return `the egress proxy could not start (${this.reason}): ${this.detail}`
  }
}

export interface RunningProxy {
  /** The TCP port on the loopback host. */
  readonly port: number
  /** `http://127.0.0.1:PORT`, for HTTP_PROXY / HTTPS_PROXY. */
  readonly url: string
  readonly socketPath: string | undefined
  /**
   * Every decision, in the order it became final: a refusal at once, an allowed connection
   * when it closes (so its byte counts are known). Ends after the scope closes, once every
   * open tunnel has been torn down and recorded. Single consumer.
   */
  readonly decisions: Stream.Stream<EgressDecision>
  /** Open tunnels plus in-flight forwarded requests. */
  readonly active: Effect.Effect<number>
}

export class EgressProxy extends Context.Tag("warrant/egress/EgressProxy")<EgressProxy, {
  readonly start: (
    policy: NetworkPolicy,
    options?: EgressOptions
  ) => Effect.Effect<RunningProxy, InvalidEgressPolicy | EgressStartFailed, Scope.Scope>
}>() {}

const startFailed = (reason: EgressStartFailed["reason"], detail: string) => new EgressStartFailed({ reason, detail })

const settingsFrom = (options: EgressOptions | undefined): Either.Either<Settings, EgressStartFailed> =>
  Schema.decodeUnknownEither(EgressOptions)(options ?? {}).pipe(
    Either.mapLeft((error) => startFailed("invalid-options", ParseResult.TreeFormatter.formatErrorSync(error))),
    Either.map(settingsOf),
    Either.flatMap((settings) => {
      const host = parseAddress(settings.host)
      const loopback = Option.exists(host, (address) => Option.exists(classify(address), (r) => r.kind === "loopback"))
      return loopback
        ? Either.right(settings)
        : Either.left(startFailed("invalid-options", `the proxy listens on loopback only, not ${JSON.stringify(settings.host)}`))
    })
  )

/** The response to bytes Node's HTTP parser rejected: never a crash, never a hang. */
const clientErrorResponse = (code: string | undefined) =>
  code === "HPE_HEADER_OVERFLOW"
    ? rawRefusal({ status: 431, proxyError: "http_request_error", detail: "the request headers are too large" })
    : code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? rawRefusal({ status: 408, proxyError: "http_request_error", detail: "the request headers took too long" })
    : rawRefusal({ status: 400, proxyError: "http_request_error", detail: "malformed HTTP request" })

interface Listener {
  readonly server: Server
  /**
   * Every client socket. Tunnels leave Node's HTTP bookkeeping once CONNECT hands them
   * over, so the proxy keeps its own list to destroy when it stops.
   */
  readonly sockets: Set<Socket>
}

const serve = (ctx: ProxyContext, run: <A>(effect: Effect.Effect<A, never, Resolver>) => unknown): Listener => {
  const server = createServer({
    maxHeaderSize: ctx.settings.maxHeaderBytes,
    requestTimeout: 0,
    headersTimeout: ctx.settings.headersTimeoutMs,
    // Node only looks for overdue headers this often (30 s by default), which would let a
    // slow client hold a connection far past headersTimeout.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(ctx.settings.headersTimeoutMs / 2))),
    keepAliveTimeout: ctx.settings.idleTimeoutMs,
    noDelay: true
  })
  server.maxConnections = ctx.settings.maxConnections
  // Node hides headers past its count limit from rawHeaders yet still frames bodies by them;
  // with no count limit every header is visible (maxHeaderBytes still bounds them).
  server.maxHeadersCount = 0
  const sockets = new Set<Socket>()
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => {})
  })
  server.on("request", (request, response) => run(handleRequest(ctx, request, response)))
  server.on("connect", (request, socket, head) => {
    socket.on("error", () => {})
    run(handleConnect(ctx, request, socket, head))
  })
  server.on("upgrade", (request, socket) => {
    socket.on("error", () => {})
    run(handleUpgrade(ctx, request, socket))
  })
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (socket.writable) socket.end(clientErrorResponse(error.code), () => socket.destroy())
    else socket.destroy()
  })
  return { server, sockets }
}

/** Listens, and on release stops accepting, destroys every connection and waits for the close. */
const listen = ({ server, sockets }: Listener, target: { host: string; port: number } | { path: string }) =>
  Effect.acquireRelease(
    Effect.async<Server, EgressStartFailed>((resume) => {
      const onError = (error: Error) => resume(Effect.fail(startFailed("listen-failed", error.message)))
      server.once("error", onError)
      server.listen({ ...target, exclusive: true }, () => {
        server.off("error", onError)
        resume(Effect.succeed(server))
      })
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
  )

const listenUnix = (listener: Listener, path: string) =>
  Effect.gen(function*() {
    const exists = yield* Effect.promise(() => lstat(path).then(() => true, () => false))
    if (exists) return yield* startFailed("listen-failed", `${path} already exists; the proxy never replaces a file`)
    yield* listen(listener, { path })
    yield* Effect.tryPromise({
      try: () => chmod(path, 0o600),
      catch: (error) => startFailed("listen-failed", `could not restrict ${path} to its owner: ${String(error)}`)
    })
    yield* Effect.addFinalizer(() => Effect.promise(() => unlink(path).catch(() => undefined)))
  })

const start = Effect.fn("EgressProxy.start")(function*(network: NetworkPolicy, options?: EgressOptions) {
  const policy = yield* compile(network)
  const settings = yield* settingsFrom(options)
  // Acquired first, released last: the stream ends only after every tunnel has recorded.
  const mailbox = yield* Effect.acquireRelease(Mailbox.make<EgressDecision>(), (mailbox) => mailbox.end)
  const agent = yield* Effect.acquireRelease(
    Effect.sync(() => new Agent({ keepAlive: true, maxSockets: settings.maxTunnels, timeout: settings.idleTimeoutMs })),
    (agent) => Effect.sync(() => agent.destroy())
  )
  const run = yield* FiberSet.makeRuntime<Resolver>()
  let nextId = 0
  const slots = makeSlots(settings.maxTunnels)
  const ctx: ProxyContext = {
    policy,
    settings,
    agent,
    slots,
    connections: makeConnections(),
    nextId: () => nextId++,
    record: (id, decision) => void mailbox.unsafeOffer({ id, ...decision })
  }
  const tcp = yield* listen(serve(ctx, run), { host: settings.host, port: settings.port })
  const address = tcp.address()
  const port = typeof address === "object" && address !== null ? address.port : settings.port
  if (settings.socketPath !== undefined) yield* listenUnix(serve(ctx, run), settings.socketPath)
  const hostPart = settings.host.includes(":") ? `[${settings.host}]` : settings.host
  return {
    port,
    url: `http://${hostPart}:${port}`,
    socketPath: settings.socketPath,
    decisions: Mailbox.toStream(mailbox),
    active: Effect.sync(slots.open)
  } satisfies RunningProxy
})

/**
 * Only the Resolver is captured: capturing the whole context would carry along a Scope
 * present where the layer was built, and every proxy would then close with that scope
 * instead of the caller's.
 */
export const layer: Layer.Layer<EgressProxy, never, Resolver> = Layer.effect(
  EgressProxy,
  Effect.map(Resolver, (resolver) => ({
    start: (policy, options) => Effect.provideService(start(policy, options), Resolver, resolver)
  }))
)

/** The proxy with the system resolver. */
export const layerSystem: Layer.Layer<EgressProxy> = layer.pipe(Layer.provide(systemResolver))

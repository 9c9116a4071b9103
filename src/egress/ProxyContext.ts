/**
 * What one running proxy shares between its connection handlers: the compiled policy, its
 * limits, the upstream connection pool, the decision sink and the tunnel count. One per
 * proxy instance; nothing here is global.
 */
import type { Agent } from "node:http"
import { Effect, Schema } from "effect"
import type { EgressDecision } from "./EgressDecision.js"
import type { EgressPolicy } from "./EgressPolicy.js"

const Positive = (max: number) => Schema.Number.pipe(Schema.int(), Schema.between(1, max))

export const EgressOptions = Schema.Struct({
  /** Loopback only: a proxy on another interface would be an open relay. Default 127.0.0.1. */
  host: Schema.optional(Schema.String),
  /** Default 0: an ephemeral port. */
  port: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.between(0, 65535))),
  /** Also listen on this Unix socket (created 0600; must not exist yet). */
  socketPath: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(107))),
  /** Open CONNECT tunnels plus in-flight forwarded requests. Default 64. */
  maxTunnels: Schema.optional(Positive(100_000)),
  /** Client connections, idle keep-alives included. Default 1024. */
  maxConnections: Schema.optional(Positive(1_000_000)),
  /** A tunnel or forwarded request with no bytes either way for this long is closed. Default 120 s. */
  idleTimeoutMs: Schema.optional(Positive(86_400_000)),
  /** Dialling the checked address. Default 10 s. */
  connectTimeoutMs: Schema.optional(Positive(600_000)),
  /** The request line plus headers. Default 16 KiB. */
  maxHeaderBytes: Schema.optional(Positive(1_048_576)),
  /** Time allowed for a client to send its headers. Default 30 s. */
  headersTimeoutMs: Schema.optional(Positive(600_000))
})
export type EgressOptions = typeof EgressOptions.Encoded

export interface Settings {
  readonly host: string
  readonly port: number
  readonly socketPath: string | undefined
  readonly maxTunnels: number
  readonly maxConnections: number
  readonly idleTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly maxHeaderBytes: number
  readonly headersTimeoutMs: number
}

export const settingsOf = (options: typeof EgressOptions.Type): Settings => ({
  host: options.host ?? "127.0.0.1",
  port: options.port ?? 0,
  socketPath: options.socketPath,
  maxTunnels: options.maxTunnels ?? 64,
  maxConnections: options.maxConnections ?? 1024,
  idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
  connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
  maxHeaderBytes: options.maxHeaderBytes ?? 16_384,
  headersTimeoutMs: options.headersTimeoutMs ?? 30_000
})

export interface Slots {
  readonly take: () => boolean
  readonly give: () => void
  readonly open: () => number
}

export const makeSlots = (max: number): Slots => {
  let open = 0
  return {
    take: () => (open < max ? (open++, true) : false),
    give: () => {
      open--
    },
    open: () => open
  }
}

/**
 * Per client connection: whether a refusal is closing it (requests pipelined behind it are
 * not processed), and the forwarded requests on it still owed a response — a CONNECT
 * pipelined behind them waits, so its 200 cannot overtake their responses.
 */
export interface Connections {
  readonly closing: (socket: object) => void
  readonly isClosing: (socket: object) => boolean
  readonly begin: (socket: object) => void
  readonly end: (socket: object) => void
  /** Resumes once no forwarded request on the socket is in flight. */
  readonly idle: (socket: object) => Effect.Effect<void>
}

export const makeConnections = (): Connections => {
  const closing = new WeakSet<object>()
  const inFlight = new WeakMap<object, { count: number; waiters: Array<() => void> }>()
  return {
    closing: (socket) => void closing.add(socket),
    isClosing: (socket) => closing.has(socket),
    begin: (socket) => {
      const entry = inFlight.get(socket)
      if (entry) entry.count++
      else inFlight.set(socket, { count: 1, waiters: [] })
    },
    end: (socket) => {
      const entry = inFlight.get(socket)
      if (entry === undefined || --entry.count > 0) return
      inFlight.delete(socket)
      for (const wake of entry.waiters) wake()
    },
    idle: (socket) =>
      Effect.async<void>((resume) => {
        const entry = inFlight.get(socket)
        if (entry === undefined) return resume(Effect.void)
        const wake = () => resume(Effect.void)
        entry.waiters.push(wake)
        return Effect.sync(() => void entry.waiters.splice(entry.waiters.indexOf(wake) >>> 0, 1))
      })
  }
}

export type DecisionFields = Omit<EgressDecision, "id">

export interface ProxyContext {
  readonly policy: EgressPolicy
  readonly settings: Settings
  /** Keep-alive pool for forwarded requests, keyed by the dialled address and port. */
  readonly agent: Agent
  readonly slots: Slots
  readonly connections: Connections
  /** Numbers a request in arrival order. */
  readonly nextId: () => number
  readonly record: (id: number, decision: DecisionFields) => void
}

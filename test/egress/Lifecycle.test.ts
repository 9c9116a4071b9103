import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Option } from "effect"
import { parseAddress } from "../../src/egress/Address.js"
import { Resolver } from "../../src/egress/Resolver.js"
import {
  collectDecisions,
  connectRequest,
  echoUpstream,
  fieldsOf,
  getRequest,
  httpUpstream,
  open,
  request,
  send,
  startProxy
} from "./support/ProxyHarness.js"

/** A resolver that answers 127.0.0.1 only once the test opens the gate. */
const gatedResolver = Effect.gen(function*() {
  const asked = yield* Deferred.make<void>()
  const gate = yield* Deferred.make<void>()
  const layer = Layer.succeed(Resolver, {
    resolve: () =>
      Deferred.succeed(asked, undefined).pipe(
        Effect.zipRight(Deferred.await(gate)),
        Effect.as([Option.getOrThrow(parseAddress("127.0.0.1"))] as const)
      )
  })
  return { asked: Deferred.await(asked), open: Deferred.succeed(gate, undefined), layer }
})

const guard = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  Effect.timeoutFail(effect, { duration: "5 seconds", onTimeout: () => new Error(`${what} did not happen within 5 s`) })

describe("a client that leaves while its name is being resolved", () => {
  // A FIN is indistinguishable from a half-close (still a valid tunnel), so the tunnel opens,
  // carries the end of the stream upstream, and then ends like any other.
  it.scopedLive("CONNECT: the tunnel still ends, is recorded, and frees its slot", () =>
    Effect.gen(function*() {
      const echo = yield* echoUpstream
      const resolver = yield* gatedResolver
      const proxy = yield* startProxy(
        { defaultDeny: true, allowHosts: [`slow.test:${echo.port}`, `127.0.0.1:${echo.port}`], allowAddresses: ["127.0.0.1"] },
        { maxTunnels: 1 },
        resolver.layer
      )
      const decisions = yield* collectDecisions(proxy)
      const leaving = yield* open(proxy.port)
      yield* leaving.write(connectRequest(`slow.test:${echo.port}`))
      yield* resolver.asked
      yield* leaving.destroy()
      // A refusal on another connection, answered after the proxy has read the first one's close.
      const refused = yield* request(proxy.port, getRequest("http://blocked.test/", "blocked.test"))
      expect(refused.status).toBe(403)
      expect((yield* decisions.next).reason).toBe("not-allowlisted")
      yield* resolver.open
      const record = yield* guard(decisions.next, "the abandoned tunnel's record")
      expect(fieldsOf(record)).toMatchObject({ kind: "connect", host: "slow.test", port: echo.port, decision: "allowed", reason: "allowlisted", resolvedAddress: "127.0.0.1" })
      expect(yield* proxy.active).toBe(0)
      const next = yield* send(proxy.port, connectRequest(`127.0.0.1:${echo.port}`))
      expect(next.status).toBe(200)
    }))

  it.scopedLive("HTTP: the request still ends, is recorded, and frees its slot; nothing reaches the upstream", () =>
    Effect.gen(function*() {
      const upstream = yield* httpUpstream
      const resolver = yield* gatedResolver
      const proxy = yield* startProxy(
        { defaultDeny: true, allowHosts: [`slow.test:${upstream.port}`, `127.0.0.1:${upstream.port}`], allowAddresses: ["127.0.0.1"] },
        { maxTunnels: 1 },
        resolver.layer
      )
      const decisions = yield* collectDecisions(proxy)
      const leaving = yield* open(proxy.port)
      yield* leaving.write(getRequest(`http://slow.test:${upstream.port}/gone`, `slow.test:${upstream.port}`))
      yield* resolver.asked
      yield* leaving.destroy()
      const refused = yield* request(proxy.port, getRequest("http://blocked.test/", "blocked.test"))
      expect(refused.status).toBe(403)
      expect((yield* decisions.next).reason).toBe("not-allowlisted")
      yield* resolver.open
      const record = yield* guard(decisions.next, "the abandoned request's record")
      expect(fieldsOf(record)).toMatchObject({ kind: "http", host: "slow.test", port: upstream.port, decision: "allowed", reason: "allowlisted", resolvedAddress: "127.0.0.1", bytesUp: 0, bytesDown: 0, upstreamError: "the client closed its connection before the request was forwarded" })
      expect(yield* proxy.active).toBe(0)
      const next = yield* request(proxy.port, getRequest(`http://127.0.0.1:${upstream.port}/after`, `127.0.0.1:${upstream.port}`))
      expect(next.status).toBe(200)
      expect(upstream.requests.map((r) => r.url)).toEqual(["/after"])
    }))
})

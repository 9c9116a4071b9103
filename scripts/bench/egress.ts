/**
 * The egress proxy against a local upstream, each in its own process: plain-HTTP
 * throughput through the proxy vs direct (16 concurrent keep-alive clients, 2,000 requests),
 * the latency the proxy adds per request, CONNECT setup time and the time to a refusal.
 */
import { type ChildProcess, fork } from "node:child_process"
import { Agent, request } from "node:http"
import { connect } from "node:net"
import type { Duplex } from "node:stream"
import { fileURLToPath } from "node:url"
import { type Bench, type Figure, quantile, round } from "./Figure.js"

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))

const spawn = <T>(file: string, args: Array<string>, execArgv: Array<string>): Promise<{ child: ChildProcess; message: T }> =>
  new Promise((resolve, reject) => {
    const child = fork(file, args, { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] })
    child.once("message", (message) => resolve({ child, message: message as T }))
    child.once("exit", (code) => reject(new Error(`${file} exited with ${code} before it was ready`)))
  })

interface Target {
  readonly agent: Agent
  readonly host: string
  readonly port: number
  readonly path: string
  readonly hostHeader: string
}

const get = (target: Target): Promise<number> =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    const req = request({ agent: target.agent, host: target.host, port: target.port, path: target.path, headers: { host: target.hostHeader } }, (res) => {
      res.resume()
      res.once("end", () => (res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error(`status ${res.statusCode}`))))
    })
    req.once("error", reject)
    req.end()
  })

/** Opens each keep-alive connection as a CONNECT tunnel through the proxy, as HTTPS clients do. */
class TunnelAgent extends Agent {
  constructor(private readonly proxyPort: number, private readonly authority: string) {
    super({ keepAlive: true, maxSockets: 16 })
  }
  override createConnection(_options: unknown, callback: (error: Error | null, socket?: Duplex) => void): undefined {
    const socket = connect(this.proxyPort, "127.0.0.1", () =>
      socket.write(`CONNECT ${this.authority} HTTP/1.1\r\nHost: ${this.authority}\r\n\r\n`))
    let head = ""
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1")
      if (!head.includes("\r\n\r\n")) return
      socket.off("data", onData)
      head.startsWith("HTTP/1.1 200") ? callback(null, socket) : callback(new Error(head.split("\r\n")[0]))
    }
    socket.on("data", onData)
    socket.once("error", (error) => callback(error))
    return undefined
  }
}

/** `total` requests from `concurrency` loops; per-request latencies (sorted) and the wall time. */
const load = async (target: Target, total: number, concurrency: number) => {
  const latencies: Array<number> = []
  let issued = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (issued < total) {
      issued++
      latencies.push(await get(target))
    }
  }))
  const seconds = (performance.now() - start) / 1000
  return { latencies: latencies.sort((a, b) => a - b), rps: total / seconds }
}

/** Time from opening a TCP connection to the proxy until `expect` arrives in its reply. */
const roundTrip = (port: number, bytes: string, expect: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes))
    let seen = ""
    socket.on("data", (chunk) => {
      seen += chunk.toString("latin1")
      if (seen.includes("\r\n\r\n")) {
        const elapsed = performance.now() - start
        socket.destroy()
        seen.startsWith(expect) ? resolve(elapsed) : reject(new Error(`unexpected reply ${JSON.stringify(seen.slice(0, 40))}`))
      }
    })
    socket.once("error", reject)
  })

const sequential = async (n: number, f: () => Promise<number>) => {
  const out: Array<number> = []
  for (let i = 0; i < n; i++) out.push(await f())
  return out.sort((a, b) => a - b)
}

const median = (xs: ReadonlyArray<number>) => quantile(xs, 0.5)

export const bench: Bench = {
  name: "egress",
  description: "egress proxy throughput vs direct, added latency, CONNECT setup and refusal latency",
  run: async () => {
    const upstream = await spawn<{ http: number; tcp: number }>(here("./egress/upstream.mjs"), [], [])
    const { http, tcp } = upstream.message
    const policy = { defaultDeny: true, allowHosts: [`127.0.0.1:${http}`, `127.0.0.1:${tcp}`], allowAddresses: ["127.0.0.1"] }
    const proxy = await spawn<{ port: number }>(here("./egress/proxy.ts"), [JSON.stringify(policy)], ["--import", "tsx", ...(process.env.EGRESS_PROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] : [])])
    const proxyPort = proxy.message.port
    const reference = await spawn<{ port: number }>(here("./egress/reference.mjs"), [String(http)], [])
    try {
      const agent = () => new Agent({ keepAlive: true, maxSockets: 16 })
      const direct: Target = { agent: agent(), host: "127.0.0.1", port: http, path: "/", hostHeader: `127.0.0.1:${http}` }
      const proxied: Target = { agent: agent(), host: "127.0.0.1", port: proxyPort, path: `http://127.0.0.1:${http}/`, hostHeader: `127.0.0.1:${http}` }
      const bare: Target = { agent: agent(), host: "127.0.0.1", port: reference.message.port, path: `http://127.0.0.1:${http}/`, hostHeader: `127.0.0.1:${http}` }
      const tunnelled: Target = { agent: new TunnelAgent(proxyPort, `127.0.0.1:${http}`), host: "127.0.0.1", port: http, path: "/", hostHeader: `127.0.0.1:${http}` }
      const total = 2_000
      // Warm both paths (JIT, connection pools), then alternate so drift hits both alike.
      await load(direct, 400, 16)
      await load(proxied, 400, 16)
      await load(tunnelled, 400, 16)
      await load(bare, 400, 16)
      type Round = Awaited<ReturnType<typeof load>>
      const rounds = { direct: [] as Array<Round>, proxied: [] as Array<Round>, tunnelled: [] as Array<Round>, bare: [] as Array<Round> }
      for (let i = 0; i < 3; i++) {
        rounds.direct.push(await load(direct, total, 16))
        rounds.proxied.push(await load(proxied, total, 16))
        rounds.tunnelled.push(await load(tunnelled, total, 16))
        rounds.bare.push(await load(bare, total, 16))
      }
      const best = (rs: typeof rounds.direct) => [...rs].sort((a, b) => a.rps - b.rps)[1]!
      const d = best(rounds.direct)
      const p = best(rounds.proxied)
      const t = best(rounds.tunnelled)
      const b = best(rounds.bare)
      // One request at a time: the latency the proxy itself adds, without queueing.
      const oneDirect = (await load(direct, 1_000, 1)).latencies
      const oneProxied = (await load(proxied, 1_000, 1)).latencies
      const connectProxy = await sequential(500, () => roundTrip(proxyPort, `CONNECT 127.0.0.1:${tcp} HTTP/1.1\r\nHost: 127.0.0.1:${tcp}\r\n\r\n`, "HTTP/1.1 200"))
      const blocked = await sequential(500, () => roundTrip(proxyPort, "GET http://blocked.example/ HTTP/1.1\r\nHost: blocked.example\r\n\r\n", "HTTP/1.1 403"))
      direct.agent.destroy()
      proxied.agent.destroy()
      tunnelled.agent.destroy()
      bare.agent.destroy()

      const added = median(oneProxied) - median(oneDirect)
      const addedP99 = quantile(oneProxied, 0.99) - quantile(oneDirect, 0.99)
      console.log(`egress: ${total} requests × 3 rounds at concurrency 16 (median round), then 1,000 one at a time`)
      console.log(`  direct            ${d.rps.toFixed(0)} req/s, latency p50 ${median(d.latencies).toFixed(3)} ms p99 ${quantile(d.latencies, 0.99).toFixed(3)} ms`)
      console.log(`  through proxy     ${p.rps.toFixed(0)} req/s, latency p50 ${median(p.latencies).toFixed(3)} ms p99 ${quantile(p.latencies, 0.99).toFixed(3)} ms`)
      console.log(`  through tunnels   ${t.rps.toFixed(0)} req/s, latency p50 ${median(t.latencies).toFixed(3)} ms p99 ${quantile(t.latencies, 0.99).toFixed(3)} ms (16 keep-alive CONNECT tunnels)`)
      console.log(`  bare forwarder    ${b.rps.toFixed(0)} req/s, ratio ${(b.rps / d.rps).toFixed(2)} (reference: Node's HTTP stack with no policy at all)`)
      console.log(`  throughput ratio  ${(p.rps / d.rps).toFixed(2)} forwarded, ${(t.rps / d.rps).toFixed(2)} tunnelled (target ≥ 0.5)`)
      console.log(`  added latency     p50 ${added.toFixed(3)} ms (target ≤ 1 ms), p99 ${addedP99.toFixed(3)} ms, one request at a time`)
      console.log(`  added under load  p50 ${(median(p.latencies) - median(d.latencies)).toFixed(3)} ms at concurrency 16`)
      console.log(`  CONNECT setup     p50 ${median(connectProxy).toFixed(3)} ms p99 ${quantile(connectProxy, 0.99).toFixed(3)} ms (new connection to 200)`)
      console.log(`  refusal           p50 ${median(blocked).toFixed(3)} ms p99 ${quantile(blocked, 0.99).toFixed(3)} ms (new connection to 403)`)
      const f = (metric: string, value: number, unit: string): Figure => ({ bench: "egress", metric, value: round(value, 3), unit })
      return [
        f("direct_rps", d.rps, "req/s"),
        f("proxy_rps", p.rps, "req/s"),
        f("throughput_ratio", p.rps / d.rps, "ratio"),
        f("tunnel_rps", t.rps, "req/s"),
        f("bare_forwarder_rps", b.rps, "req/s"),
        f("bare_forwarder_ratio", b.rps / d.rps, "ratio"),
        f("tunnel_throughput_ratio", t.rps / d.rps, "ratio"),
        f("added_latency_p50", added, "ms"),
        f("added_latency_p99", addedP99, "ms"),
        f("added_latency_p50_c16", median(p.latencies) - median(d.latencies), "ms"),
        f("connect_setup_p50", median(connectProxy), "ms"),
        f("connect_setup_p99", quantile(connectProxy, 0.99), "ms"),
        f("refusal_p50", median(blocked), "ms"),
        f("refusal_p99", quantile(blocked, 0.99), "ms")
      ]
    } finally {
      reference.child.disconnect()
      proxy.child.disconnect()
      upstream.child.disconnect()
    }
  }
}

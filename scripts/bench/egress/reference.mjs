// A reference point, not a proxy to use: the least a Node HTTP forwarder can do per request —
// parse, forward over a keep-alive pool, stream the reply — with no policy, no checks and no
// records. It shows how much of the proxy's cost is Node's HTTP stack itself on this machine.
import { Agent, createServer, request } from "node:http"

const upstreamPort = Number(process.argv[2])
const agent = new Agent({ keepAlive: true, maxSockets: 1024 })
const server = createServer((req, res) => {
  const upstream = request(
    { host: "127.0.0.1", port: upstreamPort, path: "/", method: req.method, headers: req.headers, agent },
    (reply) => {
      res.writeHead(reply.statusCode, reply.headers)
      reply.pipe(res)
    }
  )
  req.pipe(upstream)
})
server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }))
process.once("disconnect", () => process.exit(0))

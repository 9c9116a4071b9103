// The benchmark's upstream: a minimal keep-alive HTTP server in its own process that
// answers every request with a small fixed body, and a TCP listener that accepts and holds.
import { createServer } from "node:http"
import { createServer as createTcpServer } from "node:net"

const body = Buffer.from("ok\n")
const http = createServer((_, res) => {
  res.writeHead(200, { "content-type": "text/plain", "content-length": body.length })
  res.end(body)
})
http.keepAliveTimeout = 60_000
const tcp = createTcpServer((socket) => socket.on("error", () => {}))
http.listen(0, "127.0.0.1", () =>
  tcp.listen(0, "127.0.0.1", () => process.send({ http: http.address().port, tcp: tcp.address().port })))
process.once("disconnect", () => process.exit(0))

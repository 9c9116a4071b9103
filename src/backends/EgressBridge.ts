/**
 * The egress bridge: inside a sandbox with no network but loopback, a tiny Node program
 * listens on 127.0.0.1 and splices every connection to the session's egress proxy, reached
 * through a Unix socket bound into the sandbox — the only route out. Once it listens it
 * starts the command and exits with the command's status.
 */

/** Where a tier binds the proxy's Unix socket inside the sandbox. */
export const SANDBOX_SOCKET = "/run/warrant/egress.sock"

/** The loopback port the bridge listens on; the sandbox's network namespace is its own. */
export const BRIDGE_PORT = 3128

/** The bridge's loopback URL, for the proxy variables. */
export const bridgeUrl = (port: number = BRIDGE_PORT) => `http://127.0.0.1:${port}`

/**
 * Exit code when the bridge itself cannot listen (its reason is in the log). It fails closed:
 * the command never starts without its only route out.
 */
export const BRIDGE_FAILED_EXIT_CODE = 125

/**
 * Plain CommonJS for `node -e`: nothing from this package is visible in a sandbox. Arguments:
 * socket path, port, then the command's argv. The command's own stdio is the bridge's.
 */
export const BRIDGE_SOURCE = String.raw`"use strict";
const net = require("node:net");
const { spawn } = require("node:child_process");
const { constants } = require("node:os");
const [socketPath, portText, file, ...args] = process.argv.slice(1);
const fail = (message) => { process.stderr.write("warrant-bridge: " + message + "\n"); process.exit(${BRIDGE_FAILED_EXIT_CODE}); };
if (!socketPath || !portText || !file) fail("usage: bridge SOCKET PORT COMMAND [ARG...]");
const server = net.createServer({ pauseOnConnect: true }, (client) => {
  const upstream = net.connect(socketPath);
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on("error", close); upstream.on("error", close);
  client.on("close", close); upstream.on("close", close);
  upstream.once("connect", () => { client.pipe(upstream); upstream.pipe(client); client.resume(); });
});
server.on("error", (error) => fail("could not listen on 127.0.0.1:" + portText + ": " + error.message));
server.listen(Number(portText), "127.0.0.1", () => {
  const child = spawn(file, args, { stdio: "inherit" });
  child.on("error", (error) => {
    process.stderr.write("warrant: could not start " + JSON.stringify(file) + ": " + error.message + "\n");
    process.exit(127);
  });
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code === null ? 128 + (constants.signals[signal] || 0) : code));
});
`

export interface BridgeCommand {
  /** The Node binary as the sandbox sees it. */
  readonly node: string
  readonly socket?: string
  readonly port?: number
  readonly command: readonly [string, ...Array<string>]
}

/** The argv that starts the bridge, which then starts `command`. */
export const bridgeCommand = ({ command, node, port = BRIDGE_PORT, socket = SANDBOX_SOCKET }: BridgeCommand): readonly [
  string,
  ...Array<string>
] => [node, "-e", BRIDGE_SOURCE, "--", socket, String(port), ...command]

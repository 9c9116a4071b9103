/**
 * `warrant egress serve --allow HOST[:PORT]... [--allow-address CIDR...] [--listen 127.0.0.1:PORT]
 * [--socket PATH]`: a standalone proxy for one policy, to try a policy before a run. Prints one
 * JSON decision per line on stdout until interrupted; the address goes to stderr.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Either, Exit, Fiber, Option, Scope, Stream } from "effect"
import { formatAddress } from "../../egress/Address.js"
import { EgressProxy, layerSystem } from "../../egress/EgressProxy.js"
import { parseAuthority } from "../../egress/Host.js"
import type { NetworkPolicy } from "../../protocol/Network.js"
import { ExitCode } from "../ExitCode.js"

const allow = Options.text("allow").pipe(
  Options.repeated,
  Options.withDescription("an allowed host: example.com, *.example.com (subdomains only) or either with :PORT; repeatable")
)
const allowAddress = Options.text("allow-address").pipe(
  Options.repeated,
  Options.withDescription("an address or CIDR that may be dialled although it is loopback, private or metadata; repeatable")
)
const listen = Options.text("listen").pipe(
  Options.withDescription("the loopback address and port to listen on (default 127.0.0.1:0, an ephemeral port)"),
  Options.optional
)
const socket = Options.text("socket").pipe(
  Options.withDescription("also listen on this Unix socket path (created 0600; must not exist)"),
  Options.optional
)

/** `127.0.0.1:8080` or `[::1]:8080`: an IP literal and a port (0 for any). */
export const parseListen = (text: string): Either.Either<{ host: string; port: number }, string> => {
  const zeroPort = /:0$/.test(text)
  const parsed = parseAuthority(zeroPort ? text.slice(0, -2) : text, zeroPort ? 0 : undefined)
  if (Either.isLeft(parsed)) return Either.left(`--listen ${JSON.stringify(text)}: ${parsed.left.detail}`)
  const { host, port } = parsed.right
  if (host._tag !== "Ip") return Either.left(`--listen ${JSON.stringify(text)}: give an IP address such as 127.0.0.1, not a name`)
  return Either.right({ host: formatAddress(host.address), port: zeroPort ? 0 : port })
}

const usage = (message: string) => Console.error(`warrant egress serve: ${message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 2 }))))

const serveCommand = Command.make("serve", { allow, allowAddress, listen, socket }, (args) =>
  Effect.gen(function*() {
    const where = Option.isSome(args.listen) ? parseListen(args.listen.value) : Either.right({ host: "127.0.0.1", port: 0 })
    if (Either.isLeft(where)) return yield* usage(where.left)
    const policy: NetworkPolicy = { defaultDeny: true, allowHosts: args.allow, allowAddresses: args.allowAddress }
    const proxies = yield* EgressProxy
    // The proxy lives in its own scope so that on Ctrl-C it is closed first — tearing down
    // open tunnels and recording them — and the printer then drains every last decision.
    const scope = yield* Scope.make()
    const proxy = yield* proxies.start(policy, {
      ...where.right,
      ...(Option.isSome(args.socket) ? { socketPath: args.socket.value } : {})
    }).pipe(
      Scope.extend(scope),
      Effect.catchTags({
        InvalidEgressPolicy: (error) => usage(error.message),
        EgressStartFailed: (error) =>
          Console.error(`warrant egress serve: ${error.message}`).pipe(Effect.zipRight(Effect.fail(new ExitCode({ code: 1 }))))
      })
    )
    const printer = yield* Effect.forkDaemon(Stream.runForEach(proxy.decisions, (decision) => Console.log(JSON.stringify(decision))))
    yield* Console.error(
      `warrant egress: proxy for ${args.allow.length} allowed host${args.allow.length === 1 ? "" : "s"} on ${proxy.url}` +
        (proxy.socketPath === undefined ? "" : ` and ${proxy.socketPath}`) +
        `\n  try: HTTPS_PROXY=${proxy.url} HTTP_PROXY=${proxy.url} curl https://example.com\n  Ctrl-C stops it.`
    )
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() => Scope.close(scope, Exit.void).pipe(Effect.zipRight(Fiber.join(printer))))
    )
  }).pipe(Effect.provide(layerSystem))).pipe(
  Command.withDescription("run a deny-by-default egress proxy for one policy and print its decisions as JSON lines")
)

export const egressCommand = Command.make("egress").pipe(
  Command.withDescription("the egress proxy that sessions send their network traffic through"),
  Command.withSubcommands([serveCommand])
)

/**
 * `warrant plane start [--data-dir DIR] [--host HOST] [--port PORT]`: runs a plane until
 * interrupted. Flags override the WARRANT_* environment variables `Plane.layer` reads.
 */
import { Command, Options } from "@effect/cli"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import * as Plane from "../../plane/Plane.js"

const dataDir = Options.directory("data-dir").pipe(Options.withDescription("where the database, keys and admin token live (default .warrant/plane or $WARRANT_DATA_DIR)"), Options.optional)
const host = Options.text("host").pipe(Options.withDescription("the address to listen on (default 127.0.0.1 or $WARRANT_HOST)"), Options.optional)
const port = Options.integer("port").pipe(Options.withDescription("the port to listen on; 0 picks a free one (default 7070 or $WARRANT_PORT)"), Options.optional)

const start = Command.make("start", { dataDir, host, port }, (args) => {
  const flags = new Map<string, string>([
    ...Option.match(args.dataDir, { onNone: () => [], onSome: (v) => [["WARRANT_DATA_DIR", v] as const] }),
    ...Option.match(args.host, { onNone: () => [], onSome: (v) => [["WARRANT_HOST", v] as const] }),
    ...Option.match(args.port, { onNone: () => [], onSome: (v) => [["WARRANT_PORT", String(v)] as const] })
  ])
  return Layer.launch(Plane.layer).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(flags).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv())))
  )
}).pipe(Command.withDescription("run a plane: the HTTP API on SQLite, until interrupted"))

export const planeCommand = Command.make("plane").pipe(
  Command.withDescription("the plane: issues contracts, hands runs to runners, countersigns receipts"),
  Command.withSubcommands([start])
)

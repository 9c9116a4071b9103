/**
 * The plane benchmark's server: a plane on a SQLite file in the directory given as the first
 * argument, in its own process (so it has a core to itself, as a real plane would), with rate
 * limits lifted. It prints one JSON line — url, admin token, plane key — then serves until killed.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { join } from "node:path"
import { PlaneInfo } from "../../src/plane/PlaneInfo.js"
import { samplePolicy } from "../../src/testkit/SampleRun.js"
import * as TestPlane from "../../src/testkit/TestPlane.js"
import { benchPools } from "./planePools.js"

const dir = process.argv[2]
if (dir !== undefined) {
  const plane = TestPlane.layer({
    policy: { ...samplePolicy, pools: [...samplePolicy.pools, ...benchPools] },
    filename: join(dir, "plane.db"),
    settings: { rateLimit: { perSecond: 1e9, burst: 1e9 }, sweepEvery: Duration.seconds(1) }
  })
  const announce = Effect.flatMap(PlaneInfo, (info) =>
    Effect.sync(() =>
      console.log(JSON.stringify({ url: info.url, adminToken: Redacted.value(Option.getOrThrow(info.adminToken)), planeKey: info.planeKey }))
    ))
  Layer.launch(Layer.effectDiscard(announce).pipe(Layer.provideMerge(plane))).pipe(NodeRuntime.runMain)
}

/**
 * `npm start`: a run through an embedded plane. Keys under .warrant/keys (created once, reused); a
 * plane on SQLite in .warrant/demo/plane (fresh each time) on a loopback port; a requester, an
 * approver and an enrolled runner; a run that policy sends to a human, approved, claimed, recorded
 * and completed; the plane's bundle written to .warrant/demo/bundle.json and verified offline
 * against the two public keys. The runner's side is still on paper (its events are recorded, no
 * agent runs) until the runner lands; everything else is the real plane over real HTTP.
 */
import { FileSystem, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { FetchHttpClient } from "@effect/platform"
import { Console, Effect, Layer, Option, Redacted, Schema } from "effect"
import { KeyRing, layer as keyRingLayer } from "../../src/crypto/KeyRing.js"
import { Signer } from "../../src/crypto/Signer.js"
import { makeClient } from "../../src/plane/Client.js"
import * as Plane from "../../src/plane/Plane.js"
import * as PlaneConfig from "../../src/plane/PlaneConfig.js"
import { PlaneInfo } from "../../src/plane/PlaneInfo.js"
import * as Store from "../../src/plane/Store.js"
import { RunnerId } from "../../src/protocol/Ids.js"
import { renderBundle } from "../../src/receipt/Render.js"
import { verifyBundle } from "../../src/receipt/Verify.js"
import { request, runnerSide } from "../../src/testkit/PlaneRun.js"
import { sampleEvents, samplePolicy } from "../../src/testkit/SampleRun.js"
import { freshMasterKey } from "../../src/testkit/TestPlane.js"

/** The sample policy, plus a human's approval for any run that asks for a network host. */
const policy = {
  ...samplePolicy,
  consent: [{ id: "network-needs-a-human", description: "a run that reaches the network is approved by a person", when: { hosts: ["registry.npmjs.org"] }, decision: "ask" as const }]
}

const governedRun = Effect.gen(function*() {
  const info = yield* PlaneInfo
  const runnerSigner = yield* Effect.flatMap(KeyRing, (keys) => keys.signer("runner"))
  yield* Console.log(`plane        ${info.url} (SQLite in .warrant/demo/plane, key ${info.planeKey.keyId})`)

  const admin = yield* makeClient(info.url, Option.getOrThrow(info.adminToken))
  const alice = yield* admin.admin.createPrincipal({ payload: { id: "alice@example.com", kind: "human", role: "requester" } })
  const bob = yield* admin.admin.createPrincipal({ payload: { id: "bob@example.com", kind: "human", role: "approver" } })
  const requester = yield* makeClient(info.url, alice.token)
  const approver = yield* makeClient(info.url, bob.token)

  const enrollToken = yield* admin.admin.createEnrollToken({ payload: { pool: request().pool, ttlSeconds: 300 } })
  const enrolled = yield* (yield* makeClient(info.url)).enroll.enroll({
    payload: { enrollToken: enrollToken.token, publicKey: runnerSigner.publicKey, name: Schema.decodeSync(RunnerId)("runner-1") }
  })
  const runner = yield* makeClient(info.url, enrolled.runnerToken)
  yield* Console.log(`runner       ${enrolled.runnerId} enrolled in pool ${enrolled.pool} with key ${enrolled.keyId}`)

  const preview = yield* requester.runs.create({ payload: { ...request(), dryRun: true } })
  if (preview._tag === "dry-run") {
    yield* Console.log(`dry run      policy says ${preview.report.decision}${preview.report.consentRules.length > 0 ? ` (consent: ${preview.report.consentRules.join(", ")})` : ""}; ${preview.report.files.length} file(s), hosts ${preview.report.network.allowHosts.join(", ")}, agent ${preview.report.agent} on ${preview.report.tier}`)
  }
  const created = yield* requester.runs.create({ payload: request() })
  if (created._tag !== "created") return yield* Effect.dieMessage("the plane answered a dry run to a real request")
  const runId = created.run.runId
  yield* Console.log(`run          ${runId} is ${created.run.state}`)
  const approved = yield* approver.runs.approve({ path: { runId } })
  yield* Console.log(`             approved by ${approved.run.approvedBy?.id}: ${approved.run.state}, contract ${approved.run.contractHash}`)

  const claimed = yield* runner.runner.claim()
  if (claimed._tag !== "claimed") return yield* Effect.dieMessage("the approved run was not claimable")
  // On paper until the runner lands: the events a session would record, after the plane's own.
  const side = yield* runnerSide({ planeKey: info.planeKey }, { runnerId: enrolled.runnerId, signer: runnerSigner }, claimed, (manifestHash) =>
    sampleEvents({ runnerId: enrolled.runnerId, keyId: runnerSigner.keyId, manifestHash }).slice(1))
  const claim = yield* makeClient(info.url, claimed.claimToken)
  yield* claim.runner.postEvents({ path: { runId }, payload: { entries: side.fresh } })
  const completed = yield* claim.runner.complete({ path: { runId }, payload: { receipt: side.receipt } })
  yield* Console.log(`             claimed, ${side.entries.length} events, ${completed.run.state}; receipt signed by the runner and countersigned by the plane\n`)
  return yield* requester.runs.bundle({ path: { runId } })
})

const demo = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const keys = yield* KeyRing
  const planeSigner = yield* keys.signer("plane")
  const dataDir = path.resolve(".warrant/demo/plane")
  yield* fs.remove(dataDir, { recursive: true }).pipe(Effect.ignore)
  yield* fs.makeDirectory(dataDir, { recursive: true, mode: 0o700 })

  const plane = Plane.make({
    settings: PlaneConfig.make({ policy, masterKey: Redacted.make(freshMasterKey()) }),
    store: Store.layerSqlite(path.join(dataDir, "plane.db")),
    signer: Layer.succeed(Signer, planeSigner),
    listen: { host: "127.0.0.1", port: 0 }
  })
  const bundle = yield* governedRun.pipe(Effect.provide(Layer.merge(plane, FetchHttpClient.layer)))

  const out = path.resolve(".warrant/demo/bundle.json")
  yield* fs.writeFileString(out, JSON.stringify(bundle, null, 2) + "\n")
  yield* Console.log(`bundle       ${out}\n`)
  yield* Console.log(renderBundle(bundle))

  // Verify what was written, as a stranger would: from the file, trusting only the two public keys.
  const written: unknown = JSON.parse(yield* fs.readFileString(out))
  const runner = yield* keys.signer("runner")
  const result = verifyBundle(written, {
    trustedKeys: [{ keyId: planeSigner.keyId, roles: ["issuer", "plane"] }, { keyId: runner.keyId, roles: ["runner"] }]
  })
  yield* Console.log(`\nverification ${result.valid ? "VALID" : "INVALID"}: signatures, contract hash, ${bundle.events.length} chain links, head, count, Merkle root and summaries checked against trusted keys`)
  for (const p of result.problems) yield* Console.log(`  - ${p.code} at ${p.where}: ${p.message}`)
  yield* Console.log(`\ncheck it yourself:\n  npm run warrant -- verify ${path.relative(process.cwd(), out)} --trust-plane ${path.relative(process.cwd(), keys.publicPath("plane"))} --trust-runner ${path.relative(process.cwd(), keys.publicPath("runner"))}`)
  if (!result.valid) process.exitCode = 1
})

demo.pipe(
  Effect.provide(keyRingLayer(".warrant/keys").pipe(Layer.provideMerge(NodeContext.layer))),
  NodeRuntime.runMain
)

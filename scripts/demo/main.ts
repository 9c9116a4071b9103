/**
 * `npm start`: the protocol demo. Keys under .warrant/keys (created once, reused), a signed
 * contract, a short recorded run, a signed and countersigned receipt, the bundle written to
 * .warrant/demo/bundle.json, and its offline verification against the trusted keys.
 * Later issues replace the paper run with a real governed run through a plane and a runner.
 */
import { FileSystem, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { KeyRing, layer as keyRingLayer } from "../../src/crypto/KeyRing.js"
import { renderBundle } from "../../src/receipt/Render.js"
import { verifyBundle } from "../../src/receipt/Verify.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"

const demo = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const keys = yield* KeyRing
  const plane = yield* keys.signer("plane")
  const runner = yield* keys.signer("runner")
  yield* Console.log(`keys         plane  ${plane.keyId}\n             runner ${runner.keyId}\n             (in ${keys.directory}; private files mode 0600)`)

  const run = yield* sampleRun({ plane, runner })
  const out = path.resolve(".warrant/demo/bundle.json")
  yield* fs.makeDirectory(path.dirname(out), { recursive: true })
  yield* fs.writeFileString(out, JSON.stringify(run.bundle, null, 2) + "\n")
  yield* Console.log(`bundle       ${out}\n`)
  yield* Console.log(renderBundle(run.bundle))

  // Verify what was written, as a stranger would: from the file, trusting only the two public keys.
  const written: unknown = JSON.parse(yield* fs.readFileString(out))
  const result = verifyBundle(written, {
    trustedKeys: [{ keyId: plane.keyId, roles: ["issuer", "plane"] }, { keyId: runner.keyId, roles: ["runner"] }]
  })
  yield* Console.log(`\nverification ${result.valid ? "VALID" : "INVALID"}: signatures, contract hash, ${run.entries.length} chain links, head, count, Merkle root and summaries checked against trusted keys`)
  for (const p of result.problems) yield* Console.log(`  - ${p.code} at ${p.where}: ${p.message}`)
  yield* Console.log(`\ncheck it yourself:\n  npm run warrant -- verify ${path.relative(process.cwd(), out)} --trust-plane ${path.relative(process.cwd(), keys.publicPath("plane"))} --trust-runner ${path.relative(process.cwd(), keys.publicPath("runner"))}`)
  if (!result.valid) process.exitCode = 1
})

demo.pipe(
  Effect.provide(keyRingLayer(".warrant/keys").pipe(Layer.provideMerge(NodeContext.layer))),
  NodeRuntime.runMain
)

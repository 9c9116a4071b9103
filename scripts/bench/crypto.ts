/**
 * Canonicalise + hash throughput (MB/s of canonical JSON) over realistic chain entries, and
 * ed25519 sign / verify operations per second on protocol-sized payloads.
 */
import { Effect, Either } from "effect"
import { generateKey, signBytes, verifyBytes } from "../../src/crypto/Ed25519.js"
import { canonicalize } from "../../src/protocol/Canonical.js"
import { hashCanonical } from "../../src/protocol/Hash.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"
import { signingPayload } from "../../src/crypto/SigningPayload.js"
import { type Bench, quantile, round, sample } from "./Figure.js"

export const bench: Bench = {
  name: "crypto",
  description: "canonical JSON + SHA-256 throughput; ed25519 sign and verify rates",
  run: async () => {
    const run = await Effect.runPromise(sampleRun({ extraEvents: 10_000 }))
    const values: ReadonlyArray<unknown> = JSON.parse(JSON.stringify(run.bundle.events))
    const bytes = values.reduce<number>((n, v) => n + Buffer.byteLength(Either.getOrThrow(canonicalize(v))), 0)
    const canon = sample(() => values.forEach((v) => canonicalize(v)), 20)
    const hashed = sample(() => values.forEach((v) => hashCanonical(v)), 20)
    const mbps = (ms: number) => bytes / 1e6 / (ms / 1000)

    const key = generateKey()
    const payload = Either.getOrThrow(signingPayload("receipt", "runner", JSON.parse(JSON.stringify(run.receipt))))
    const signature = signBytes(payload, key.secretKey)
    const publicKey = Buffer.from(key.publicKey).toString("hex")
    const ops = 200
    const sign = sample(() => { for (let i = 0; i < ops; i++) signBytes(payload, key.secretKey) }, 5, 1)
    const verify = sample(() => { for (let i = 0; i < ops; i++) verifyBytes(signature, payload, publicKey) }, 5, 1)
    const perSecond = (ms: number) => ops / (ms / 1000)

    console.log(`crypto: ${values.length} chain entries, ${(bytes / 1e6).toFixed(2)} MB canonical`)
    console.log(`  canonicalize         ${mbps(quantile(canon, 0.5)).toFixed(1)} MB/s (median of 20)`)
    console.log(`  canonicalize+sha256  ${mbps(quantile(hashed, 0.5)).toFixed(1)} MB/s (median of 20)`)
    console.log(`  ed25519 sign         ${perSecond(quantile(sign, 0.5)).toFixed(0)} ops/s on a ${payload.length}-byte receipt payload`)
    console.log(`  ed25519 verify       ${perSecond(quantile(verify, 0.5)).toFixed(0)} ops/s`)
    return [
      { bench: "crypto", metric: "canonicalize_throughput", value: round(mbps(quantile(canon, 0.5)), 1), unit: "MB/s" },
      { bench: "crypto", metric: "canonicalize_hash_throughput", value: round(mbps(quantile(hashed, 0.5)), 1), unit: "MB/s" },
      { bench: "crypto", metric: "sign_rate", value: Math.round(perSecond(quantile(sign, 0.5))), unit: "ops/s" },
      { bench: "crypto", metric: "verify_rate", value: Math.round(perSecond(quantile(verify, 0.5))), unit: "ops/s" }
    ]
  }
}

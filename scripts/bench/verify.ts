/**
 * Offline verification of a signed bundle with 10,000 events (target: median ≤ 50 ms here;
 * the product's published budget is 1 s).
 */
import { Effect } from "effect"
import { verifyBundle } from "../../src/receipt/Verify.js"
import { sampleRun } from "../../src/testkit/SampleRun.js"
import { type Bench, quantile, round, sample } from "./Figure.js"

export const bench: Bench = {
  name: "verify",
  description: "verifyBundle on a signed, countersigned bundle of 10,000 events",
  run: async () => {
    const run = await Effect.runPromise(sampleRun({ extraEvents: 10_000 - 9 }))
    const text = JSON.stringify(run.bundle)
    const bundle: unknown = JSON.parse(text)
    const events = run.entries.length
    let valid = true
    const times = sample(() => {
      valid = verifyBundle(bundle).valid && valid
    }, 30)
    if (!valid) throw new Error("the benchmark bundle did not verify")
    const parse = sample(() => JSON.parse(text), 30)
    console.log(`verify: ${events} events, ${(text.length / 1e6).toFixed(1)} MB of JSON`)
    console.log(`  verifyBundle  median ${quantile(times, 0.5).toFixed(1)} ms, p95 ${quantile(times, 0.95).toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms`)
    console.log(`  (JSON.parse of the same file, not included: median ${quantile(parse, 0.5).toFixed(1)} ms)`)
    return [
      { bench: "verify", metric: "events", value: events, unit: "count" },
      { bench: "verify", metric: "verify_median", value: round(quantile(times, 0.5)), unit: "ms" },
      { bench: "verify", metric: "verify_p95", value: round(quantile(times, 0.95)), unit: "ms" },
      { bench: "verify", metric: "verify_min", value: round(times[0]!), unit: "ms" },
      { bench: "verify", metric: "json_parse_median", value: round(quantile(parse, 0.5)), unit: "ms" }
    ]
  }
}

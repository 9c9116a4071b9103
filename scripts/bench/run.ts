/**
 * `npm run bench` runs every benchmark; `npm run bench -- NAME` runs one. Each prints its
 * human-readable figures, then one JSON line per figure: { bench, metric, value, unit }.
 */
import { cpus, totalmem } from "node:os"
import type { Bench } from "./Figure.js"
import { bench as crypto } from "./crypto.js"
import { bench as egress } from "./egress.js"
import { bench as namespace } from "./namespace.js"
import { bench as plane } from "./plane.js"
import { bench as session } from "./session.js"
import { bench as verify } from "./verify.js"
import { bench as workspace } from "./workspace.js"

const benches: ReadonlyArray<Bench> = [verify, crypto, egress, session, namespace, workspace, plane]

const main = async () => {
  const wanted = process.argv.slice(2).filter((a) => a !== "--")
  const unknown = wanted.filter((w) => !benches.some((b) => b.name === w))
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(", ")}; available: ${benches.map((b) => `${b.name} (${b.description})`).join("; ")}`)
    process.exitCode = 2
    return
  }
  const selected = wanted.length === 0 ? benches : benches.filter((b) => wanted.includes(b.name))
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`)
  for (const bench of selected) {
    const figures = await bench.run()
    for (const figure of figures) console.log(JSON.stringify(figure))
  }
}

void main()

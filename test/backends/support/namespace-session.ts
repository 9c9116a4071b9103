/**
 * One namespace-tier session in a process of its own, for tests that need a runner started
 * in a particular way (say, with a descriptor its parent left open). Arguments: the first
 * sandbox uid, the workspace, the shell script. Prints the session's result as JSON.
 */
import { Effect } from "effect"
import { namespaceTier, runIn } from "./Namespace.js"
import { sh } from "./Sessions.js"

const [first, workspace, script] = process.argv.slice(2)
const tier = namespaceTier({ uids: { first: Number(first), count: 4 } })
const result = await Effect.runPromise(runIn(tier, workspace!, sh(script!)))
process.stdout.write(JSON.stringify(result))

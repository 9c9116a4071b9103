/**
 * Why a pull was refused before it could compare anything: the caller has to act (fix the run
 * id, fetch the base, remove a stale branch), so each reason says what to do.
 */
import { Schema } from "effect"

export class PullFailed extends Schema.TaggedError<PullFailed>()("PullFailed", {
  dir: Schema.String,
  runId: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot pull run ${JSON.stringify(this.runId.slice(0, 200))} into ${this.dir}: ${this.reason}`
  }
}

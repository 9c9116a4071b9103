/**
 * Why a workspace could not be captured or materialised. Each reason names the path or the
 * object at fault and what the person can do about it.
 */
import { Schema } from "effect"

export class CaptureFailed extends Schema.TaggedError<CaptureFailed>()("CaptureFailed", {
  directory: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot capture ${this.directory}: ${this.reason}`
  }
}

export class MaterializeFailed extends Schema.TaggedError<MaterializeFailed>()("MaterializeFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `cannot materialise the workspace: ${this.reason}`
  }
}

/** A fetched blob is not the one the manifest names: nothing built from it is kept. */
export class BlobMismatch extends Schema.TaggedError<BlobMismatch>()("BlobMismatch", {
  /** What the blob was for: "the bundle", "the dirty diff", "the file a/b". */
  what: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    return `${this.what} does not match the manifest: expected ${this.expected}, got ${this.actual}; the blob store holds a different or damaged blob`
  }
}

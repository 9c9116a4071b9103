/**
 * Every error the plane's API can answer with. Each carries `error` (its name), `message` (what
 * went wrong and what to do) and `details` (machine-readable specifics), with its HTTP status.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/** The `error` field: the error's name, filled in by the constructor. */
const named = <const T extends string>(tag: T) => Schema.optionalWith(Schema.Literal(tag), { default: () => tag })

export const Issue = Schema.Struct({ path: Schema.String, message: Schema.String })
export type Issue = typeof Issue.Type

export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", {
  error: named("BadRequest"),
  message: Schema.String,
  details: Schema.Struct({ issues: Schema.Array(Issue) })
}, HttpApiSchema.annotations({ status: 400 })) {}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  error: named("Unauthorized"),
  message: Schema.String,
  details: Schema.Struct({ reason: Schema.Literal("missing", "unknown", "expired", "spent", "wrong-run") })
}, HttpApiSchema.annotations({ status: 401 })) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  error: named("Forbidden"),
  message: Schema.String,
  details: Schema.Struct({ caller: Schema.String, allowed: Schema.Array(Schema.String) })
}, HttpApiSchema.annotations({ status: 403 })) {}

export const Violation = Schema.Struct({ rule: Schema.String, message: Schema.String })
export type Violation = typeof Violation.Type

export class PolicyDenied extends Schema.TaggedError<PolicyDenied>()("PolicyDenied", {
  error: named("PolicyDenied"),
  message: Schema.String,
  details: Schema.Struct({ policyHash: Schema.String, violations: Schema.NonEmptyArray(Violation) })
}, HttpApiSchema.annotations({ status: 403 })) {}

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  error: named("NotFound"),
  message: Schema.String,
  details: Schema.Struct({ resource: Schema.String, id: Schema.String })
}, HttpApiSchema.annotations({ status: 404 })) {}

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  error: named("Conflict"),
  message: Schema.String,
  details: Schema.Struct({ resource: Schema.String, id: Schema.String, state: Schema.optional(Schema.String) })
}, HttpApiSchema.annotations({ status: 409 })) {}

export class ChainRejected extends Schema.TaggedError<ChainRejected>()("ChainRejected", {
  error: named("ChainRejected"),
  message: Schema.String,
  details: Schema.Struct({ runId: Schema.String, index: Schema.Number, kind: Schema.String })
}, HttpApiSchema.annotations({ status: 409 })) {}

export const ProblemView = Schema.Struct({ where: Schema.String, code: Schema.String, message: Schema.String })

export class ReceiptRejected extends Schema.TaggedError<ReceiptRejected>()("ReceiptRejected", {
  error: named("ReceiptRejected"),
  message: Schema.String,
  details: Schema.Struct({ runId: Schema.String, problems: Schema.Array(ProblemView) })
}, HttpApiSchema.annotations({ status: 422 })) {}

export class BlobRejected extends Schema.TaggedError<BlobRejected>()("BlobRejected", {
  error: named("BlobRejected"),
  message: Schema.String,
  details: Schema.Struct({ hashes: Schema.Array(Schema.String) })
}, HttpApiSchema.annotations({ status: 422 })) {}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  error: named("PayloadTooLarge"),
  message: Schema.String,
  details: Schema.Struct({ limitBytes: Schema.Number })
}, HttpApiSchema.annotations({ status: 413 })) {}

export class LengthRequired extends Schema.TaggedError<LengthRequired>()("LengthRequired", {
  error: named("LengthRequired"),
  message: Schema.String,
  details: Schema.Struct({ limitBytes: Schema.Number })
}, HttpApiSchema.annotations({ status: 411 })) {}

export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()("TooManyRequests", {
  error: named("TooManyRequests"),
  message: Schema.String,
  details: Schema.Struct({ retryAfterSeconds: Schema.Number, reason: Schema.Literal("rate-limit", "lockout") })
}, HttpApiSchema.annotations({ status: 429 })) {}

export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  error: named("NotReady"),
  message: Schema.String,
  details: Schema.Struct({ checks: Schema.Array(Schema.Struct({ name: Schema.String, ok: Schema.Boolean })) })
}, HttpApiSchema.annotations({ status: 503 })) {}

export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", {
  error: named("InternalError"),
  message: Schema.String,
  details: Schema.Struct({ requestId: Schema.String })
}, HttpApiSchema.annotations({ status: 500 })) {}

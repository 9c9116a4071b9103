/**
 * The Identity service: principals and their tokens, the first admin, runner enrollment with
 * single-use enroll tokens, and resolving a bearer token to its caller. Token secrets are stored
 * only as hashes; a token is shown once, when it is minted.
 */
import { Clock, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import { keyIdOf } from "../crypto/Ed25519.js"
import { Signer } from "../crypto/Signer.js"
import { type PoolName, type PublicKeyHex, type RunnerId, type Timestamp, timestampOf } from "../protocol/Ids.js"
import { Conflict, Unauthorized } from "./ApiErrors.js"
import type { Enrolled, PrincipalView, Role } from "./ApiModel.js"
import type { CallerShape } from "./Caller.js"
import { PlaneStore, type PrincipalRow, type StoreError } from "./Store.js"
import * as Tokens from "./Tokens.js"
import { randomBytes } from "node:crypto"

const unauthorized = (reason: Unauthorized["details"]["reason"], message: string) => new Unauthorized({ message, details: { reason } })

const principalView = (row: PrincipalRow): PrincipalView => ({
  id: row.id,
  kind: row.kind as PrincipalView["kind"],
  role: row.role as Role,
  createdAt: row.created_at as PrincipalView["createdAt"]
})

export interface IdentityShape {
  /** Creates the admin principal on the store's first start; its token, exactly once. */
  readonly bootstrapAdmin: Effect.Effect<Option.Option<Redacted.Redacted<string>>, StoreError>
  readonly createPrincipal: (input: { readonly id: string; readonly kind: "human" | "service"; readonly role: Role }) => Effect.Effect<
    { readonly principal: PrincipalView; readonly token: Redacted.Redacted<string> },
    Conflict | StoreError
  >
  readonly listPrincipals: Effect.Effect<ReadonlyArray<PrincipalView>, StoreError>
  readonly mintEnrollToken: (pool: PoolName, ttl: Duration.Duration, by: string) => Effect.Effect<{ readonly token: Redacted.Redacted<string>; readonly expiresAt: Timestamp }, StoreError>
  readonly enroll: (input: { readonly enrollToken: Redacted.Redacted<string>; readonly publicKey: PublicKeyHex; readonly name?: RunnerId | undefined }) => Effect.Effect<
    Enrolled,
    Unauthorized | Conflict | StoreError
  >
  /** The caller a bearer token stands for; the token's id (for lockout accounting) when it has one. */
  readonly authenticate: (token: string) => Effect.Effect<CallerShape, Unauthorized | StoreError>
}

export class Identity extends Context.Tag("warrant/plane/Identity")<Identity, IdentityShape>() {}

export const make = Effect.gen(function*() {
  const store = yield* PlaneStore
  const signer = yield* Signer
  const now = Effect.map(Clock.currentTimeMillis, timestampOf)

  const createPrincipal: IdentityShape["createPrincipal"] = Effect.fn("Identity.createPrincipal")(function*(input) {
    const at = yield* now
    const row: PrincipalRow = { id: input.id, kind: input.kind, role: input.role, created_at: at }
    const minted = Tokens.mint("wpt")
    yield* store.transaction(Effect.gen(function*() {
      if (!(yield* store.insertPrincipal(row))) {
        return yield* new Conflict({ message: `a principal ${input.id} already exists; choose another id`, details: { resource: "principal", id: input.id } })
      }
      yield* store.insertToken({ id: minted.id, secret_hash: minted.secretHash, subject_kind: "principal", subject_id: input.id }, at)
    }))
    return { principal: principalView(row), token: Redacted.make(minted.token) }
  })

  const authenticate: IdentityShape["authenticate"] = Effect.fn("Identity.authenticate")(function*(token) {
    if (token === "") return yield* unauthorized("missing", "no bearer token: send Authorization: Bearer <token>")
    const parsed = Tokens.parse(token)
    if (parsed === undefined || parsed.prefix === "wet") return yield* unauthorized("unknown", "the bearer token is not a Warrant token")
    if (parsed.prefix === "wct") {
      const claim = yield* store.getClaim(parsed.id)
      if (Option.isNone(claim) || !Tokens.secretMatches(parsed.secret, claim.value.secret_hash)) {
        return yield* unauthorized("unknown", "the claim token is not known to this plane")
      }
      if (claim.value.spent_at !== null) {
        return yield* unauthorized("spent", `the claim token of run ${claim.value.run_id} was spent when the run ended; it is good for nothing now`)
      }
      return { kind: "claim", runId: claim.value.run_id, runnerId: claim.value.runner_id, nonce: claim.value.nonce } as CallerShape
    }
    const row = yield* store.getToken(parsed.id)
    const expected = parsed.prefix === "wpt" ? "principal" : "runner"
    if (Option.isNone(row) || row.value.subject_kind !== expected || !Tokens.secretMatches(parsed.secret, row.value.secret_hash)) {
      return yield* unauthorized("unknown", "the bearer token is not known to this plane")
    }
    if (expected === "principal") {
      const principal = yield* store.getPrincipal(row.value.subject_id)
      if (Option.isNone(principal)) return yield* unauthorized("unknown", "the token's principal no longer exists")
      return { kind: "principal", principal: { kind: principal.value.kind as "human" | "service", id: principal.value.id }, role: principal.value.role as Role } as CallerShape
    }
    const runner = yield* store.getRunner(row.value.subject_id)
    if (Option.isNone(runner)) return yield* unauthorized("unknown", "the token's runner no longer exists")
    return { kind: "runner", runnerId: runner.value.id, pool: runner.value.pool, keyId: runner.value.key_id } as CallerShape
  })

  const enroll: IdentityShape["enroll"] = Effect.fn("Identity.enroll")(function*(input) {
    const parsed = Tokens.parse(Redacted.value(input.enrollToken))
    if (parsed === undefined || parsed.prefix !== "wet") return yield* unauthorized("unknown", "that is not an enroll token; ask an admin for one (POST /enroll-tokens)")
    const row = yield* store.getEnrollToken(parsed.id)
    if (Option.isNone(row) || !Tokens.secretMatches(parsed.secret, row.value.secret_hash)) {
      return yield* unauthorized("unknown", "the enroll token is not known to this plane")
    }
    const at = yield* now
    if (row.value.used_at !== null) return yield* unauthorized("spent", "the enroll token was already used; enroll tokens are single-use, ask an admin for a new one")
    if (row.value.expires_at <= at) return yield* unauthorized("expired", `the enroll token expired at ${row.value.expires_at}; ask an admin for a new one`)
    const runnerId = (input.name ?? `runner-${randomBytes(6).toString("hex")}`) as RunnerId
    const keyId = keyIdOf(input.publicKey)
    const minted = Tokens.mint("wrt")
    yield* store.transaction(Effect.gen(function*() {
      if (Option.isSome(yield* store.getRunner(runnerId))) {
        return yield* new Conflict({ message: `a runner named ${runnerId} is already enrolled; choose another name`, details: { resource: "runner", id: runnerId } })
      }
      if (!(yield* store.useEnrollToken(parsed.id, runnerId, at))) {
        return yield* unauthorized("spent", "the enroll token was used or expired a moment ago; ask an admin for a new one")
      }
      yield* store.insertRunner({ id: runnerId, pool: row.value.pool, key_id: keyId, public_key: input.publicKey, enrolled_at: at, last_seen_at: null })
      yield* store.insertToken({ id: minted.id, secret_hash: minted.secretHash, subject_kind: "runner", subject_id: runnerId }, at)
    }))
    return { runnerId, pool: row.value.pool as PoolName, keyId, runnerToken: Redacted.make(minted.token), planeKey: signer.record }
  })

  return Identity.of({
    // One transaction: a start that dies half-way leaves the store unmarked, and the next start
    // creates the admin; never a store marked as bootstrapped with no admin in it.
    bootstrapAdmin: store.transaction(Effect.gen(function*() {
      if (!(yield* store.initMeta("admin-bootstrapped", yield* now))) return Option.none()
      const created = yield* createPrincipal({ id: "admin", kind: "service", role: "admin" }).pipe(
        Effect.catchTag("Conflict", () => Effect.dieMessage("the store was marked new but already holds an admin principal"))
      )
      return Option.some(created.token)
    })),
    createPrincipal,
    listPrincipals: Effect.map(store.listPrincipals, (rows) => rows.map(principalView)),
    mintEnrollToken: Effect.fn("Identity.mintEnrollToken")(function*(pool, ttl, by) {
      const at = yield* Clock.currentTimeMillis
      const minted = Tokens.mint("wet")
      const expiresAt = timestampOf(at + Duration.toMillis(ttl))
      yield* store.insertEnrollToken({ id: minted.id, secret_hash: minted.secretHash, pool, expires_at: expiresAt, used_at: null, created_by: by, created_at: timestampOf(at) })
      return { token: Redacted.make(minted.token), expiresAt }
    }),
    enroll,
    authenticate
  })
})

export const layer = Layer.effect(Identity, make)

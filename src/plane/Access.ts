/**
 * Who may do what: role checks for principals, run visibility, and a claim token's binding to
 * its run. Pure decisions that fail with the API's typed errors.
 */
import { Effect } from "effect"
import type { RunId } from "../protocol/Ids.js"
import { Forbidden, NotFound } from "./ApiErrors.js"
import type { Role } from "./ApiModel.js"
import { type CallerShape, describeCaller } from "./Caller.js"
import type { RunRow } from "./Store.js"

export type PrincipalCaller = Extract<CallerShape, { kind: "principal" }>
export type RunnerCaller = Extract<CallerShape, { kind: "runner" }>
export type ClaimCaller = Extract<CallerShape, { kind: "claim" }>

const forbidden = (caller: CallerShape, allowed: ReadonlyArray<string>, what: string) =>
  new Forbidden({ message: `${describeCaller(caller)} may not ${what}; this needs ${allowed.join(" or ")}`, details: { caller: describeCaller(caller), allowed } })

export const requireRole = (caller: CallerShape, roles: ReadonlyArray<Role>, what: string): Effect.Effect<PrincipalCaller, Forbidden> =>
  caller.kind === "principal" && roles.includes(caller.role)
    ? Effect.succeed(caller)
    : Effect.fail(forbidden(caller, roles.map((r) => `a principal with role ${r}`), what))

export const requireRunner = (caller: CallerShape): Effect.Effect<RunnerCaller, Forbidden> =>
  caller.kind === "runner" ? Effect.succeed(caller) : Effect.fail(forbidden(caller, ["a runner token"], "claim runs"))

/** A claim token acts only on the run it was issued for. */
export const requireClaim = (caller: CallerShape, runId: RunId, what: string): Effect.Effect<ClaimCaller, Forbidden> =>
  caller.kind === "claim" && caller.runId === runId
    ? Effect.succeed(caller)
    : Effect.fail(forbidden(caller, [`the claim token of run ${runId}`], what))

/** Admins and approvers see every run; a requester sees its own; a claim token sees its run. */
export const canSee = (caller: CallerShape, run: Pick<RunRow, "id" | "requester_id">): boolean =>
  caller.kind === "principal"
    ? caller.role !== "requester" || caller.principal.id === run.requester_id
    : caller.kind === "claim" && caller.runId === run.id

export const runNotFound = (runId: string) => new NotFound({ message: `no run ${runId} that you can see`, details: { resource: "run", id: runId } })

/** A run the caller may not see is reported as absent, so ids cannot be probed. */
export const visible = (caller: CallerShape, run: RunRow | undefined, runId: string): Effect.Effect<RunRow, NotFound> =>
  run !== undefined && canSee(caller, run) ? Effect.succeed(run) : Effect.fail(runNotFound(runId))

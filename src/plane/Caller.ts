/**
 * Who is calling the plane, as the Authentication middleware resolved the bearer token: a
 * principal with a role, an enrolled runner, or a runner acting on one claimed run.
 */
import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"
import type { KeyId, PoolName, Principal, RunId, RunnerId } from "../protocol/Ids.js"
import { TooManyRequests, Unauthorized } from "./ApiErrors.js"
import type { Role } from "./ApiModel.js"

export type CallerShape =
  | { readonly kind: "principal"; readonly principal: Principal; readonly role: Role }
  | { readonly kind: "runner"; readonly runnerId: RunnerId; readonly pool: PoolName; readonly keyId: KeyId }
  | { readonly kind: "claim"; readonly runId: RunId; readonly runnerId: RunnerId; readonly nonce: string }

export class Caller extends Context.Tag("warrant/plane/Caller")<Caller, CallerShape>() {}

export const describeCaller = (caller: CallerShape): string =>
  caller.kind === "principal"
    ? `principal ${caller.principal.id} (${caller.role})`
    : caller.kind === "runner"
    ? `runner ${caller.runnerId}`
    : `claim token of run ${caller.runId}`

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("warrant/plane/Authentication", {
  failure: Schema.Union(Unauthorized, TooManyRequests),
  provides: Caller,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

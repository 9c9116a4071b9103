import { describe, expect, it } from "@effect/vitest"
import { Either, Redacted } from "effect"
import { missingCredentials, resolveCredentials } from "../../src/backends/VercelCredentials.js"

const jwt = (claims: Record<string, unknown>) =>
  ["header", Buffer.from(JSON.stringify(claims)).toString("base64url"), "signature"].join(".")

const NOW = Date.parse("2026-06-11T00:00:00Z")

const plain = (result: ReturnType<typeof resolveCredentials>) =>
  Either.map(result, (c) => ({ ...c, token: Redacted.value(c.token) }))

describe("Vercel credentials", () => {
  it("explicit options win over the environment", () => {
    const env = { VERCEL_TOKEN: "env-token", VERCEL_TEAM_ID: "team_env", VERCEL_PROJECT_ID: "prj_env" }
    expect(plain(resolveCredentials({ token: Redacted.make("opt-token"), teamId: "team_opt", projectId: "prj_opt" }, env, NOW)))
      .toEqual(Either.right({ token: "opt-token", teamId: "team_opt", projectId: "prj_opt", source: "options" }))
    // A token option may take its team and project from the environment.
    expect(plain(resolveCredentials({ token: Redacted.make("opt-token") }, env, NOW)))
      .toEqual(Either.right({ token: "opt-token", teamId: "team_env", projectId: "prj_env", source: "options" }))
  })

  it("VERCEL_TOKEN, VERCEL_TEAM_ID and VERCEL_PROJECT_ID from the environment", () => {
    const env = { VERCEL_TOKEN: "env-token", VERCEL_TEAM_ID: "team_env", VERCEL_PROJECT_ID: "prj_env", VERCEL_OIDC_TOKEN: jwt({ owner_id: "o", project_id: "p" }) }
    expect(plain(resolveCredentials({}, env, NOW)))
      .toEqual(Either.right({ token: "env-token", teamId: "team_env", projectId: "prj_env", source: "environment" }))
  })

  it("a Vercel OIDC token names its own team and project", () => {
    const token = jwt({ owner_id: "team_oidc", project_id: "prj_oidc", exp: NOW / 1000 + 3600 })
    expect(plain(resolveCredentials({}, { VERCEL_OIDC_TOKEN: token, VERCEL_TEAM_ID: "other" }, NOW)))
      .toEqual(Either.right({ token, teamId: "team_oidc", projectId: "prj_oidc", source: "oidc" }))
  })

  it("missing or partial credentials are refused with a reason that never holds the token", () => {
    expect(resolveCredentials({}, {}, NOW)).toEqual(Either.left(missingCredentials))
    expect(resolveCredentials({}, { VERCEL_TOKEN: "", VERCEL_OIDC_TOKEN: "" }, NOW)).toEqual(Either.left(missingCredentials))
    const partial = resolveCredentials({}, { VERCEL_TOKEN: "secret-env-token", VERCEL_TEAM_ID: "team" }, NOW)
    expect(partial).toEqual(Either.left("VERCEL_TOKEN is set, but a project (projectId or VERCEL_PROJECT_ID) is missing"))
    expect(resolveCredentials({ token: Redacted.make("secret-opt-token") }, {}, NOW)).toEqual(Either.left(
      "the token option is set, but a team (teamId or VERCEL_TEAM_ID) and a project (projectId or VERCEL_PROJECT_ID) are missing"
    ))
  })

  it("an OIDC token that is not a Vercel JWT, or has expired, is refused", () => {
    expect(resolveCredentials({}, { VERCEL_OIDC_TOKEN: "not-a-jwt-secret" }, NOW)).toEqual(Either.left(
      "VERCEL_OIDC_TOKEN is not a Vercel OIDC token (a JWT with owner_id and project_id claims)"
    ))
    expect(resolveCredentials({}, { VERCEL_OIDC_TOKEN: jwt({ owner_id: "o" }) }, NOW)).toEqual(Either.left(
      "VERCEL_OIDC_TOKEN is not a Vercel OIDC token (a JWT with owner_id and project_id claims)"
    ))
    expect(resolveCredentials({}, { VERCEL_OIDC_TOKEN: jwt({ owner_id: "o", project_id: "p", exp: NOW / 1000 - 1 }) }, NOW))
      .toEqual(Either.left("VERCEL_OIDC_TOKEN expired at 2026-06-10T23:59:59.000Z"))
  })
})

/**
 * The credentials a Vercel Sandbox is created with: a token, a team and a project, from
 * explicit options first, then `VERCEL_TOKEN` / `VERCEL_TEAM_ID` / `VERCEL_PROJECT_ID`,
 * then a Vercel OIDC token (whose claims name the team and project). All three are always
 * resolved here and passed explicitly, so the SDK never falls back to its own discovery —
 * which, on a terminal, starts an interactive login. Pure: the environment and the clock are
 * passed in; a reason never contains a token.
 */
import { Either, Redacted } from "effect"

export interface VercelCredentials {
  readonly token: Redacted.Redacted<string>
  readonly teamId: string
  readonly projectId: string
  /** Where the token came from, for a readiness report. */
  readonly source: "options" | "environment" | "oidc"
}

export interface CredentialOptions {
  readonly token?: Redacted.Redacted<string> | undefined
  readonly teamId?: string | undefined
  readonly projectId?: string | undefined
}

export type Environment = Readonly<Record<string, string | undefined>>

/** An empty variable is as good as an unset one. */
const present = (value: string | undefined): string | undefined => (value === undefined || value === "" ? undefined : value)

export const missingCredentials =
  "no Vercel credentials: pass a token, teamId and projectId, set VERCEL_TOKEN, VERCEL_TEAM_ID and VERCEL_PROJECT_ID, or provide VERCEL_OIDC_TOKEN"

/** The `owner_id` and `project_id` claims of a JWT, without verifying it (Vercel does). */
const oidcClaims = (
  token: string,
  nowMs: number
): Either.Either<{ readonly teamId: string; readonly projectId: string }, string> => {
  const invalid = Either.left("VERCEL_OIDC_TOKEN is not a Vercel OIDC token (a JWT with owner_id and project_id claims)")
  const parts = token.split(".")
  if (parts.length !== 3) return invalid
  let payload: unknown
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"))
  } catch {
    return invalid
  }
  if (typeof payload !== "object" || payload === null) return invalid
  const claims = payload as Record<string, unknown>
  const teamId = claims["owner_id"]
  const projectId = claims["project_id"]
  if (typeof teamId !== "string" || teamId === "" || typeof projectId !== "string" || projectId === "") return invalid
  const exp = claims["exp"]
  if (typeof exp === "number" && exp * 1000 <= nowMs) {
    return Either.left(`VERCEL_OIDC_TOKEN expired at ${new Date(exp * 1000).toISOString()}`)
  }
  return Either.right({ teamId, projectId })
}

/**
 * The credentials, or why there are none. A token without its team and project is refused
 * here: the SDK would reject it at create time, after the session had started.
 */
export const resolveCredentials = (
  options: CredentialOptions,
  env: Environment,
  nowMs: number
): Either.Either<VercelCredentials, string> => {
  const explicit = options.token === undefined ? undefined : present(Redacted.value(options.token))
  const token = explicit ?? present(env["VERCEL_TOKEN"])
  const teamId = present(options.teamId) ?? present(env["VERCEL_TEAM_ID"])
  const projectId = present(options.projectId) ?? present(env["VERCEL_PROJECT_ID"])
  if (token !== undefined) {
    const from = explicit !== undefined ? "the token option" : "VERCEL_TOKEN"
    const missing = [
      ...(teamId === undefined ? ["a team (teamId or VERCEL_TEAM_ID)"] : []),
      ...(projectId === undefined ? ["a project (projectId or VERCEL_PROJECT_ID)"] : [])
    ]
    if (teamId === undefined || projectId === undefined) {
      return Either.left(`${from} is set, but ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing`)
    }
    return Either.right({
      token: Redacted.make(token),
      teamId,
      projectId,
      source: explicit !== undefined ? "options" : "environment"
    })
  }
  const oidc = present(env["VERCEL_OIDC_TOKEN"])
  if (oidc === undefined) return Either.left(missingCredentials)
  // The token is scoped to the team and project its claims name, as the SDK reads them.
  return Either.map(oidcClaims(oidc, nowMs), (claims) => ({ token: Redacted.make(oidc), ...claims, source: "oidc" as const }))
}

/**
 * A typed client for the plane API, derived from `Api` alone: every endpoint, payload and error
 * as the server defines them. The runner and the CLI use it; so do the tests.
 */
import { HttpApiClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { Api } from "./Api.js"

/** A client for `baseUrl` that sends `token` (a principal, runner or claim token) as its bearer. */
export const makeClient = (baseUrl: string, token?: Redacted.Redacted<string> | string) =>
  HttpApiClient.make(Api, {
    baseUrl,
    transformClient: token === undefined
      ? undefined
      : HttpClient.mapRequest(HttpClientRequest.bearerToken(typeof token === "string" ? token : Redacted.value(token)))
  })

export type PlaneClient = Effect.Effect.Success<ReturnType<typeof makeClient>>

/**
 * The whole plane API, defined once: the server implements it, the runner and the CLI derive a
 * typed client from it, and `GET /openapi.json` is generated from it. Imports no server code.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Bundle } from "../protocol/Bundle.js"
import { ChainEntry } from "../protocol/Event.js"
import { Sha256 } from "../protocol/Hash.js"
import { RunId, SecretName } from "../protocol/Ids.js"
import {
  BadRequest,
  BlobRejected,
  ChainRejected,
  Conflict,
  Forbidden,
  InternalError,
  LengthRequired,
  NotFound,
  NotReady,
  PayloadTooLarge,
  PolicyDenied,
  ReceiptRejected,
  TooManyRequests,
  Unauthorized
} from "./ApiErrors.js"
import * as M from "./ApiModel.js"
import { Authentication } from "./Caller.js"

const RunPath = Schema.Struct({ runId: RunId })
const BlobPath = Schema.Struct({ hash: Sha256 })
const SecretPath = Schema.Struct({ name: SecretName })

export class SystemApi extends HttpApiGroup.make("system")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(M.Health))
  .add(HttpApiEndpoint.get("ready", "/ready").addSuccess(M.Readiness).addError(NotReady))
  .annotate(OpenApi.Description, "Liveness and readiness; no authentication.")
{}

export class EnrollApi extends HttpApiGroup.make("enroll")
  .add(
    HttpApiEndpoint.post("enroll", "/runners/enroll")
      .setPayload(M.EnrollRequest)
      .addSuccess(M.Enrolled, { status: 201 })
      .addError(Unauthorized)
      .addError(Conflict)
      .addError(TooManyRequests)
  )
  .annotate(OpenApi.Description, "A runner trades a single-use enroll token and its public key for a runner token.")
{}

export class AdminApi extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.post("createPrincipal", "/principals").setPayload(M.CreatePrincipal).addSuccess(M.PrincipalCreated, { status: 201 }).addError(Conflict))
  .add(HttpApiEndpoint.get("listPrincipals", "/principals").addSuccess(Schema.Array(M.PrincipalView)))
  .add(HttpApiEndpoint.post("createEnrollToken", "/enroll-tokens").setPayload(M.CreateEnrollToken).addSuccess(M.EnrollTokenCreated, { status: 201 }))
  .add(HttpApiEndpoint.get("listRunners", "/runners").addSuccess(Schema.Array(M.RunnerView)))
  .add(HttpApiEndpoint.put("putSecret", "/secrets/:name").setPath(SecretPath).setPayload(M.PutSecret).addSuccess(M.SecretView))
  .add(HttpApiEndpoint.get("listSecrets", "/secrets").addSuccess(Schema.Array(M.SecretView)))
  .add(HttpApiEndpoint.del("deleteSecret", "/secrets/:name").setPath(SecretPath).addSuccess(HttpApiSchema.NoContent))
  .add(HttpApiEndpoint.get("policy", "/policy").addSuccess(M.PolicyView))
  .add(
    HttpApiEndpoint.get("export", "/export")
      .setUrlParams(M.ExportParams)
      .addSuccess(HttpApiSchema.Text({ contentType: "application/x-ndjson" }))
  )
  .middleware(Authentication)
  .addError(Forbidden)
  .annotate(OpenApi.Description, "Principals, enrollment, secrets, policy and export: the admin's (the policy is readable by every principal).")
{}

export class RunsApi extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.post("create", "/runs")
      .setPayload(M.RunRequest)
      .addSuccess(M.RunCreatedResponse, { status: 201 })
      .addSuccess(M.DryRunResponse)
      .addError(PolicyDenied)
      .addError(BlobRejected)
  )
  .add(HttpApiEndpoint.get("list", "/runs").setUrlParams(M.ListRunsParams).addSuccess(Schema.Array(M.RunView)))
  .add(HttpApiEndpoint.get("get", "/runs/:runId").setPath(RunPath).addSuccess(M.RunDetail))
  .add(HttpApiEndpoint.get("events", "/runs/:runId/events").setPath(RunPath).addSuccess(Schema.Array(ChainEntry)))
  .add(HttpApiEndpoint.get("bundle", "/runs/:runId/bundle").setPath(RunPath).addSuccess(Bundle).addError(Conflict))
  .add(HttpApiEndpoint.post("approve", "/runs/:runId/approve").setPath(RunPath).addSuccess(M.RunDetail).addError(Conflict))
  .add(HttpApiEndpoint.post("cancel", "/runs/:runId/cancel").setPath(RunPath).setPayload(M.CancelRequest).addSuccess(M.RunView).addError(Conflict))
  .middleware(Authentication)
  .addError(Forbidden)
  .annotate(OpenApi.Description, "Runs: create (with policy and dry run), inspect, approve, cancel, bundle.")
{}

export class RunnerApi extends HttpApiGroup.make("runner")
  .add(HttpApiEndpoint.post("claim", "/claim").addSuccess(M.ClaimResponse))
  .add(HttpApiEndpoint.post("heartbeat", "/runs/:runId/heartbeat").setPath(RunPath).addSuccess(M.Lease).addError(Conflict))
  .add(
    HttpApiEndpoint.post("postEvents", "/runs/:runId/events")
      .setPath(RunPath)
      .setPayload(M.EventBatch)
      .addSuccess(M.EventsAccepted)
      .addError(ChainRejected)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.post("complete", "/runs/:runId/complete")
      .setPath(RunPath)
      .setPayload(M.CompleteRequest)
      .addSuccess(M.Completed)
      .addError(ReceiptRejected)
      .addError(Conflict)
  )
  .middleware(Authentication)
  .addError(Forbidden)
  .annotate(OpenApi.Description, "The runner protocol: claim with a runner token; heartbeat, events and complete with the run's claim token.")
{}

export class BlobsApi extends HttpApiGroup.make("blobs")
  .add(
    HttpApiEndpoint.put("put", "/blobs/:hash")
      .setPath(BlobPath)
      .setPayload(HttpApiSchema.Uint8Array({ contentType: "application/octet-stream" }))
      .addSuccess(M.BlobStored)
      .addError(BlobRejected)
  )
  .add(HttpApiEndpoint.get("get", "/blobs/:hash").setPath(BlobPath).addSuccess(HttpApiSchema.Uint8Array({ contentType: "application/octet-stream" })))
  .middleware(Authentication)
  .addError(Forbidden)
  .annotate(OpenApi.Description, "Content-addressed blobs; knowing a hash is not access.")
{}

export class Api extends HttpApi.make("warrant")
  .add(SystemApi)
  .add(EnrollApi)
  .add(AdminApi)
  .add(RunsApi)
  .add(RunnerApi)
  .add(BlobsApi)
  .addError(BadRequest)
  .addError(NotFound)
  .addError(PayloadTooLarge)
  .addError(LengthRequired)
  .addError(InternalError)
  .annotate(OpenApi.Title, "Warrant plane")
  .annotate(OpenApi.Version, "1")
{}

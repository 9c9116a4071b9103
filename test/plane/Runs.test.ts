import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import { verifyWith } from "../../src/crypto/ContractSigning.js"
import { EventBatch, type RunRequest } from "../../src/plane/ApiModel.js"
import { policyHash } from "../../src/protocol/Digest.js"
import { sha256 } from "../../src/protocol/Hash.js"
import { PoolName, RunId, Timestamp } from "../../src/protocol/Ids.js"
import type { Policy } from "../../src/protocol/Policy.js"
import { Receipt } from "../../src/protocol/Receipt.js"
import * as TestPlane from "../../src/testkit/TestPlane.js"
import { claimClient, claimOrFail, completeOne, encodeContract, enrollRunner, principals, raw, request, runnerSide } from "./support/PlaneKit.js"
import { blob, createRaw, policyWith, principal, requestWith, types } from "./support/RunsBlobsKit.js"

const policy = policyWith()
const askPolicy = policyWith({ consent: [{ id: "network-needs-a-human", when: { hosts: ["registry.npmjs.org"] }, decision: "ask" }] })
/** For runs the kit's runner completes: its process tier only attests network, so nothing may demand enforcement. */
const attestOnly = policyWith({ enforce: [] })
const plane = (p: Policy = policy) => Effect.provide(TestPlane.layer({ policy: p }))

const alice = { kind: "human", id: "alice" } as const
const bob = { kind: "human", id: "bob" } as const
const poolName = Schema.decodeSync(PoolName)
const runIdOf = Schema.decodeSync(RunId)

interface ErrorBody {
  readonly error: string
  readonly message: string
  readonly details: Record<string, unknown>
}
interface DeniedBody extends ErrorBody {
  readonly details: { readonly policyHash: string; readonly violations: ReadonlyArray<{ readonly rule: string; readonly message: string }> }
}

/** Creates a run through the typed client and returns its id; fails the test if it was a dry run. */
const created = (response: { readonly _tag: "created"; readonly run: { readonly runId: RunId } } | { readonly _tag: "dry-run" }) =>
  response._tag === "created" ? Effect.succeed(response.run.runId) : Effect.dieMessage("expected a created run, got a dry run")

describe("policy over HTTP: allow", () => {
  it.live("allows a request inside the policy: 201, queued, a signed contract with the effective agent, timeout, enforcement and scoped secrets", () =>
    Effect.gen(function*() {
      const p = yield* principals
      // claude-code with a shell execution runs as the command agent; no timeout asked for.
      const asked = requestWith(
        { agent: "claude-code", isolation: { tier: "process", enforce: ["env"] } },
        { timeoutMs: undefined },
        { inherit: ["PATH"], secrets: [{ env: "NPM_TOKEN", secretName: "NPM_TOKEN" }] }
      )
      const response = yield* createRaw(p.url, p.requesterToken, asked)
      expect(response.status).toBe(201)
      const body = response.body as { _tag: string; run: { runId: string; state: string }; contract: unknown }
      expect(body._tag).toBe("created")
      expect(body.run.state).toBe("queued")
      const runId = runIdOf(body.run.runId)

      const detail = yield* p.requester.runs.get({ path: { runId } })
      const contract = detail.contract!
      expect(body.contract).toEqual(encodeContract(contract))
      const verified = yield* verifyWith({ trustedIssuers: [p.planeKey] })(encodeContract(contract))
      expect(detail.run.contractHash).toBe(verified.contractHash)
      expect(contract.agent).toEqual({ kind: "command" })
      expect(contract.execution.timeoutMs).toBe(600_000)
      expect(contract.isolation).toEqual({ tier: "process", enforce: ["network", "env"] })
      expect(contract.secrets).toEqual([{ name: "NPM_TOKEN", scope: `run:${runId}` }])
      expect(contract.requestedBy).toEqual(alice)
      expect(contract.approvedBy).toBeUndefined()
      expect(contract.policyHash).toBe(policyHash(policy))
      expect(contract.budget).toEqual({ maxDurationMin: 10 })
      expect(detail.run).toMatchObject({ runId, state: "queued", agent: "command", tier: "process", decision: "allow", consentRules: [], requestedBy: alice, eventCount: 2 })

      const events = yield* p.requester.runs.events({ path: { runId } })
      expect(events.map((e) => e.event)).toEqual([
        { type: "run.created", runId, requestedBy: alice },
        { type: "policy.evaluated", policyHash: policyHash(policy), decision: "allow", reasons: [] }
      ])
      expect(events.map((e) => e.seq)).toEqual([0, 1])
      expect(events[0]!.prevHash).toBe(verified.contractHash)
      expect(events[1]!.prevHash).toBe(events[0]!.hash)
    }).pipe(plane()))

  it.live("an agent execution keeps the requested agent, and the request's own timeout stands", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runId = yield* created(yield* p.requester.runs.create({ payload: requestWith({ agent: "mock" }, { command: { kind: "agent" }, timeoutMs: 5_000 }) }))
      const { contract, run } = yield* p.requester.runs.get({ path: { runId } })
      expect(contract?.agent).toEqual({ kind: "mock" })
      expect(contract?.execution.timeoutMs).toBe(5_000)
      expect(run.agent).toBe("mock")
    }).pipe(plane()))
})

interface Denial {
  readonly name: string
  readonly policy?: Policy
  readonly request: RunRequest
  readonly rules: ReadonlyArray<string>
}

const denials: ReadonlyArray<Denial> = [
  {
    name: "a shell execution while the request says claude-code, under a policy whose agents lack command",
    policy: policyWith({ agents: ["claude-code", "mock"] }),
    request: requestWith({ agent: "claude-code" }),
    rules: ["agent"]
  },
  { name: "network.defaultDeny false under a deny-by-default policy", request: requestWith({ network: { defaultDeny: false, allowHosts: [] } }), rules: ["network.defaultDeny"] },
  { name: "execution.env.egressProxy false", request: requestWith({}, {}, { egressProxy: false }), rules: ["network.egressProxy"] },
  { name: "inheriting a host variable the policy does not list", request: requestWith({}, {}, { inherit: ["PATH", "HOME"] }), rules: ["env.inherit"] },
  { name: "a timeout over budget.maxTimeoutMs", request: requestWith({}, { timeoutMs: 600_001 }), rules: ["timeout"] },
  { name: "a port the policy does not allow", request: requestWith({ network: { defaultDeny: true, allowHosts: ["registry.npmjs.org:8443"] } }), rules: ["network.host"] },
  { name: "a host the policy does not allow", request: requestWith({ network: { defaultDeny: true, allowHosts: ["evil.example.com"] } }), rules: ["network.host"] },
  { name: "a secret the policy does not release", request: requestWith({}, {}, { secrets: [{ env: "AWS_KEY", secretName: "AWS_SECRET_ACCESS_KEY" }] }), rules: ["secret"] },
  { name: "a pool the policy does not allow", request: requestWith({ pool: "gpu" }), rules: ["pool"] },
  { name: "a tier the policy does not allow", request: requestWith({ isolation: { tier: "container", enforce: [] } }), rules: ["tier"] },
  { name: "a duration over the budget ceiling", request: requestWith({ budget: { maxDurationMin: 31 } }), rules: ["budget.maxDurationMin"] },
  {
    name: "three rules at once (pool, tier, secret), listing all three",
    request: requestWith({ pool: "gpu", isolation: { tier: "container", enforce: [] } }, {}, { secrets: [{ env: "AWS_KEY", secretName: "AWS_SECRET_ACCESS_KEY" }] }),
    rules: ["pool", "tier", "secret"]
  }
]

describe("policy over HTTP: deny", () => {
  for (const denial of denials) {
    it.live(`denies ${denial.name}: 403 PolicyDenied listing ${denial.rules.join(", ")}, nothing stored`, () =>
      Effect.gen(function*() {
        const p = yield* principals
        const response = yield* createRaw(p.url, p.requesterToken, denial.request)
        expect(response.status).toBe(403)
        const body = response.body as DeniedBody
        expect(body.error).toBe("PolicyDenied")
        expect(body.details.policyHash).toBe(policyHash(denial.policy ?? policy))
        expect(body.details.violations.map((v) => v.rule)).toEqual(denial.rules)
        for (const v of body.details.violations) expect(v.message).not.toBe("")
        expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
        expect(yield* p.admin.admin.export({ urlParams: {} })).toBe("")
      }).pipe(plane(denial.policy ?? policy)))
  }

  it.live("the typed client receives the denial as PolicyDenied, naming the effective agent", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const error = yield* Effect.flip(p.requester.runs.create({ payload: requestWith({ agent: "claude-code" }) }))
      expect(error._tag).toBe("PolicyDenied")
      if (error._tag !== "PolicyDenied") return
      expect(error.details.violations.map((v) => v.rule)).toEqual(["agent"])
      expect(error.details.violations[0].message).toContain("\"command\"")
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
    }).pipe(plane(policyWith({ agents: ["claude-code", "mock"] }))))

  it.live("an approver may not create runs (403 Forbidden), and nothing is stored", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const response = yield* createRaw(p.url, p.approverToken, request())
      expect(response.status).toBe(403)
      expect((response.body as ErrorBody).error).toBe("Forbidden")
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
    }).pipe(plane()))
})

describe("consent (ask)", () => {
  it.live("a request matching a consent rule waits for an approver; approved, it is queued with approvedBy and the consent on its chain", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const response = yield* createRaw(p.url, p.requesterToken, request())
      expect(response.status).toBe(201)
      const body = response.body as { _tag: string; run: Record<string, unknown> }
      expect(body._tag).toBe("created")
      expect(body).not.toHaveProperty("contract")
      expect(body.run).toMatchObject({ state: "awaiting_approval", decision: "ask", consentRules: ["network-needs-a-human"], eventCount: 0 })
      expect(body.run).not.toHaveProperty("contractHash")
      const runId = runIdOf(body.run.runId as string)

      const waiting = yield* p.approver.runs.get({ path: { runId } })
      expect(waiting.contract).toBeUndefined()
      // No contract yet, so no chain: the plane's record so far is pending, chained on approval.
      expect(yield* p.approver.runs.events({ path: { runId } })).toEqual([])
      expect(waiting.pending?.map((p) => p.event.type)).toEqual(["run.created", "policy.evaluated", "consent.requested"])
      expect(waiting.pending?.[2]?.event).toMatchObject({ type: "consent.requested", rules: ["network-needs-a-human"] })
      expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })

      const byRequester = yield* raw(p.url, "POST", `/runs/${runId}/approve`, { token: p.requesterToken })
      expect(byRequester.status).toBe(403)
      expect((byRequester.body as ErrorBody).error).toBe("Forbidden")
      expect((yield* p.requester.runs.get({ path: { runId } })).run.state).toBe("awaiting_approval")

      const approved = yield* p.approver.runs.approve({ path: { runId } })
      expect(approved.run).toMatchObject({ state: "queued", approvedBy: bob, decision: "ask" })
      expect(approved.contract?.approvedBy).toEqual(bob)
      expect(approved.pending).toBeUndefined()
      expect(approved.contract?.requestedBy).toEqual(alice)
      yield* verifyWith({ trustedIssuers: [p.planeKey] })(encodeContract(approved.contract!))

      const events = yield* p.requester.runs.events({ path: { runId } })
      expect(events.map((e) => e.event)).toEqual([
        { type: "run.created", runId, requestedBy: alice },
        { type: "policy.evaluated", policyHash: policyHash(askPolicy), decision: "ask", reasons: ["consent rule network-needs-a-human"] },
        { type: "consent.requested", rules: ["network-needs-a-human"], reason: "the request matches consent rules that need a human's approval" },
        { type: "consent.granted", by: bob }
      ])

      const again = yield* raw(p.url, "POST", `/runs/${runId}/approve`, { token: p.approverToken })
      expect(again.status).toBe(409)
      expect(again.body).toMatchObject({ error: "Conflict", details: { resource: "run", id: runId, state: "queued" } })

      const claimed = yield* claimOrFail(runner)
      expect(claimed.contract.runId).toBe(runId)
      expect(claimed.contract.approvedBy).toEqual(bob)
      expect(types(claimed.entries)).toEqual(["run.created", "policy.evaluated", "consent.requested", "consent.granted", "run.claimed"])
    }).pipe(plane(askPolicy)))

  it.live("an admin who requested a run cannot approve it (403); another approver can", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runId = yield* created(yield* p.admin.runs.create({ payload: request() }))
      const own = yield* raw(p.url, "POST", `/runs/${runId}/approve`, { token: p.adminToken })
      expect(own.status).toBe(403)
      expect(own.body).toMatchObject({ error: "Forbidden", details: { caller: "admin", allowed: ["an approver other than the requester"] } })
      expect((yield* p.admin.runs.get({ path: { runId } })).run.state).toBe("awaiting_approval")
      const approved = yield* p.approver.runs.approve({ path: { runId } })
      expect(approved.run.state).toBe("queued")
      expect(approved.contract?.approvedBy).toEqual(bob)
      expect(approved.pending).toBeUndefined()
    }).pipe(plane(askPolicy)))

  it.live("approving a run that policy allowed outright is a conflict (409)", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runId = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const error = yield* Effect.flip(p.approver.runs.approve({ path: { runId } }))
      expect(error._tag).toBe("Conflict")
      const response = yield* raw(p.url, "POST", `/runs/${runId}/approve`, { token: p.approverToken })
      expect(response.status).toBe(409)
      expect((yield* p.requester.runs.get({ path: { runId } })).contract?.approvedBy).toBeUndefined()
    }).pipe(plane()))
})

describe("dry run", () => {
  it.live("answers 200 with the full disclosure report and stores, grants and issues nothing", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const bundle = blob("PACK a git bundle")
      const notes = blob("notes\n")
      const data = blob("never uploaded")
      yield* p.requester.blobs.put({ path: { hash: bundle.hash }, payload: bundle.bytes })
      yield* p.requester.blobs.put({ path: { hash: notes.hash }, payload: notes.bytes })
      const asked = requestWith(
        {
          agent: "claude-code",
          dryRun: true,
          isolation: { tier: "namespace", enforce: ["read"] },
          workspace: {
            version: "warrant.manifest.v1",
            source: "git",
            baseRef: "a".repeat(40),
            bundle: { hash: bundle.hash, size: bundle.size },
            files: [
              { path: "package.json", hash: sha256("{}\n"), size: 3 },
              { path: "notes.txt", hash: notes.hash, size: notes.size, untracked: true },
              { path: "data.bin", hash: data.hash, size: data.size, untracked: true }
            ],
            denied: [{ path: ".env", pattern: ".env*" }, { path: "keys/id.pem", pattern: "*.pem" }],
            deniedPatterns: [".env*", "*.pem"]
          },
          budget: {},
          disclosure: "redacted"
        },
        { command: { kind: "argv", argv: ["npm", "test"] }, timeoutMs: undefined },
        { inherit: ["PATH"], secrets: [{ env: "NPM_TOKEN", secretName: "NPM_TOKEN" }] }
      )
      const response = yield* createRaw(p.url, p.requesterToken, asked)
      expect(response.status).toBe(200)
      expect(response.body).toEqual({
        _tag: "dry-run",
        report: {
          decision: "allow",
          violations: [],
          consentRules: [],
          policyHash: policyHash(policy),
          requestedAgent: "claude-code",
          agent: "command",
          tier: "namespace",
          enforce: ["read", "network"],
          pool: "default",
          files: [
            { path: "package.json", hash: sha256("{}\n"), size: 3 },
            { path: "notes.txt", hash: notes.hash, size: notes.size },
            { path: "data.bin", hash: data.hash, size: data.size }
          ],
          denied: [{ path: ".env", pattern: ".env*" }, { path: "keys/id.pem", pattern: "*.pem" }],
          blobs: [
            { hash: bundle.hash, size: bundle.size, uploaded: true },
            { hash: notes.hash, size: notes.size, uploaded: true },
            { hash: data.hash, size: data.size, uploaded: false }
          ],
          bytes: bundle.size + notes.size + data.size,
          secrets: ["NPM_TOKEN"],
          inheritEnv: ["PATH"],
          network: { defaultDeny: true, egressProxy: true, allowHosts: ["registry.npmjs.org"], allowAddresses: [] },
          timeoutMs: 600_000,
          budget: { maxDurationMin: 30 },
          disclosure: "redacted"
        }
      })

      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
      expect(yield* p.admin.admin.export({ urlParams: {} })).toBe("")
      expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })
      // Nothing was granted to a run: the approver, who sees every run, still cannot read the blobs.
      expect((yield* Effect.flip(p.approver.blobs.get({ path: { hash: bundle.hash } })))._tag).toBe("NotFound")
    }).pipe(plane()))

  it.live("reports a request policy would deny with 200 and decision deny, its violations and the rest, and stores nothing", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const asked = requestWith(
        { dryRun: true, pool: "gpu", isolation: { tier: "container", enforce: [] }, network: { defaultDeny: false, allowHosts: [] } },
        { timeoutMs: 700_000 },
        { egressProxy: false }
      )
      const response = yield* createRaw(p.url, p.requesterToken, asked)
      expect(response.status).toBe(200)
      const report = (response.body as { _tag: string; report: Record<string, unknown> & { violations: ReadonlyArray<{ rule: string }> } }).report
      expect((response.body as { _tag: string })._tag).toBe("dry-run")
      expect(report.decision).toBe("deny")
      expect(report.violations.map((v) => v.rule)).toEqual(["pool", "tier", "network.defaultDeny", "network.egressProxy", "timeout"])
      expect(report).toMatchObject({
        consentRules: [],
        requestedAgent: "command",
        agent: "command",
        tier: "container",
        enforce: ["network"],
        pool: "gpu",
        files: [],
        denied: [],
        blobs: [],
        bytes: 0,
        secrets: [],
        inheritEnv: [],
        network: { defaultDeny: false, egressProxy: false, allowHosts: [], allowAddresses: [] },
        timeoutMs: 700_000,
        budget: { maxDurationMin: 10 },
        disclosure: "metadata-only"
      })

      const typed = yield* p.requester.runs.create({ payload: asked })
      expect(typed._tag).toBe("dry-run")
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
      expect(yield* p.admin.admin.export({ urlParams: {} })).toBe("")
      expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })
    }).pipe(plane()))

  it.live("reports ask, with the matching consent rules, for a request that needs a human", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const response = yield* p.requester.runs.create({ payload: requestWith({ dryRun: true }) })
      expect(response._tag).toBe("dry-run")
      if (response._tag !== "dry-run") return
      expect(response.report).toMatchObject({ decision: "ask", violations: [], consentRules: ["network-needs-a-human"] })
      expect(yield* p.admin.runs.list({ urlParams: {} })).toEqual([])
    }).pipe(plane(askPolicy)))
})

describe("cancel", () => {
  it.live("cancels a run awaiting approval; it can no longer be approved or claimed", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const runId = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const cancelled = yield* p.requester.runs.cancel({ path: { runId }, payload: { reason: "not needed after all" } })
      expect(cancelled).toMatchObject({ runId, state: "cancelled", failure: { failureClass: "cancelled", message: "not needed after all" } })
      // No contract was ever issued, so there is no chain to end.
      expect(yield* p.requester.runs.events({ path: { runId } })).toEqual([])
      const approve = yield* raw(p.url, "POST", `/runs/${runId}/approve`, { token: p.approverToken })
      expect(approve.status).toBe(409)
      expect(approve.body).toMatchObject({ error: "Conflict", details: { state: "cancelled" } })
      expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })
    }).pipe(plane(askPolicy)))

  it.live("cancels a queued run: its chain ends with run.cancelled by the canceller and no runner can claim it", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const runId = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const cancelled = yield* p.requester.runs.cancel({ path: { runId }, payload: {} })
      expect(cancelled).toMatchObject({ runId, state: "cancelled", eventCount: 3, failure: { failureClass: "cancelled", message: "cancelled by alice" } })
      const events = yield* p.requester.runs.events({ path: { runId } })
      expect(types(events)).toEqual(["run.created", "policy.evaluated", "run.cancelled"])
      expect(events[2]!.event).toEqual({ type: "run.cancelled", by: alice })
      expect(events[2]!.prevHash).toBe(events[1]!.hash)
      expect(yield* runner.client.runner.claim()).toEqual({ _tag: "empty" })
    }).pipe(plane()))

  it.live("cancels a running run: the chain ends with run.cancelled by the canceller and the claim token is spent (401)", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const runId = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const claimed = yield* claimOrFail(runner)
      expect(claimed.contract.runId).toBe(runId)
      const side = yield* runnerSide(p, runner, claimed)

      const cancelled = yield* p.approver.runs.cancel({ path: { runId }, payload: { reason: "stop" } })
      expect(cancelled).toMatchObject({ runId, state: "cancelled", runnerId: runner.runnerId, eventCount: 4, failure: { failureClass: "cancelled", message: "stop" } })
      expect(cancelled.leaseExpiresAt).toBeUndefined()
      const events = yield* p.requester.runs.events({ path: { runId } })
      expect(types(events)).toEqual(["run.created", "policy.evaluated", "run.claimed", "run.cancelled"])
      expect(events.at(-1)!.event).toEqual({ type: "run.cancelled", by: bob, reason: "stop" })

      const posted = yield* raw(p.url, "POST", `/runs/${runId}/events`, {
        token: Redacted.value(claimed.claimToken),
        body: JSON.stringify(Schema.encodeSync(EventBatch)({ entries: side.fresh }))
      })
      expect(posted.status).toBe(401)
      expect(posted.body).toMatchObject({ error: "Unauthorized", details: { reason: "spent" } })
      const claim = yield* claimClient(p, claimed)
      const error = yield* Effect.flip(claim.runner.postEvents({ path: { runId }, payload: { entries: side.fresh } }))
      expect(error._tag).toBe("Unauthorized")
      if (error._tag === "Unauthorized") expect(error.details.reason).toBe("spent")
      expect((yield* p.requester.runs.events({ path: { runId } })).length).toBe(4)
    }).pipe(plane()))

  it.live("cancelling a run that has ended is a conflict (409): completed, or already cancelled", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const done = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const { completed } = yield* completeOne(p, runner)
      expect(completed.run.state).toBe("completed")
      const response = yield* raw(p.url, "POST", `/runs/${done}/cancel`, { token: p.requesterToken, body: "{}" })
      expect(response.status).toBe(409)
      expect(response.body).toMatchObject({ error: "Conflict", details: { resource: "run", id: done, state: "completed" } })
      expect((yield* p.requester.runs.get({ path: { runId: done } })).run.state).toBe("completed")

      const gone = yield* created(yield* p.requester.runs.create({ payload: request() }))
      yield* p.requester.runs.cancel({ path: { runId: gone }, payload: {} })
      const twice = yield* Effect.flip(p.admin.runs.cancel({ path: { runId: gone }, payload: {} }))
      expect(twice._tag).toBe("Conflict")
      if (twice._tag === "Conflict") expect(twice.details).toEqual({ resource: "run", id: gone, state: "cancelled" })
      expect(types(yield* p.requester.runs.events({ path: { runId: gone } }))).toEqual(["run.created", "policy.evaluated", "run.cancelled"])
    }).pipe(plane(attestOnly)))

  it.live("a requester cannot cancel another requester's run: it is not visible (404) and stays queued", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const carol = yield* principal(p, "carol")
      const runId = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const response = yield* raw(p.url, "POST", `/runs/${runId}/cancel`, { token: carol.token, body: "{}" })
      expect(response.status).toBe(404)
      expect(response.body).toMatchObject({ error: "NotFound", details: { resource: "run", id: runId } })
      expect((yield* p.requester.runs.get({ path: { runId } })).run.state).toBe("queued")
    }).pipe(plane()))
})

describe("visibility and listing", () => {
  it.live("a requester sees only its own runs; approvers and admins see all", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const carol = yield* principal(p, "carol")
      const mine = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const hers = yield* created(yield* carol.client.runs.create({ payload: request() }))

      for (const suffix of ["", "/events", "/bundle"]) {
        const response = yield* raw(p.url, "GET", `/runs/${mine}${suffix}`, { token: carol.token })
        expect(response.status).toBe(404)
        expect(response.body).toMatchObject({ error: "NotFound", details: { resource: "run", id: mine } })
      }
      expect((yield* Effect.flip(carol.client.runs.get({ path: { runId: mine } })))._tag).toBe("NotFound")
      // Someone else's run answers exactly like a run that does not exist.
      const missing = yield* raw(p.url, "GET", "/runs/run-does-not-exist", { token: carol.token })
      const theirs = yield* raw(p.url, "GET", `/runs/${mine}`, { token: carol.token })
      expect(missing.status).toBe(theirs.status)
      expect(JSON.stringify(missing.body).replaceAll("run-does-not-exist", "ID")).toBe(JSON.stringify(theirs.body).replaceAll(mine, "ID"))

      // Own bundle before completion: visible, but not yet there.
      expect((yield* raw(p.url, "GET", `/runs/${mine}/bundle`, { token: p.requesterToken })).status).toBe(409)

      const ids = (views: ReadonlyArray<{ readonly runId: string }>) => views.map((v) => v.runId).sort()
      expect(ids(yield* p.requester.runs.list({ urlParams: {} }))).toEqual([mine])
      expect(ids(yield* carol.client.runs.list({ urlParams: {} }))).toEqual([hers])
      expect(ids(yield* p.requester.runs.list({ urlParams: { requestedBy: "carol" } }))).toEqual([mine])
      expect(ids(yield* p.approver.runs.list({ urlParams: {} }))).toEqual([mine, hers].sort())
      expect(ids(yield* p.admin.runs.list({ urlParams: {} }))).toEqual([mine, hers].sort())
      expect(ids(yield* p.approver.runs.list({ urlParams: { requestedBy: "carol" } }))).toEqual([hers])

      expect((yield* p.approver.runs.get({ path: { runId: mine } })).run.requestedBy).toEqual(alice)
      expect((yield* p.admin.runs.get({ path: { runId: hers } })).run.requestedBy).toEqual({ kind: "human", id: "carol" })
      expect(types(yield* p.approver.runs.events({ path: { runId: hers } }))).toEqual(["run.created", "policy.evaluated"])
    }).pipe(plane()))

  it.live("list filters by state and by pool", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const queued = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const gpu = yield* created(yield* p.requester.runs.create({ payload: requestWith({ pool: "gpu" }) }))
      const waiting = yield* created(yield* p.requester.runs.create({ payload: requestWith({ isolation: { tier: "namespace", enforce: [] } }) }))
      const ids = (views: ReadonlyArray<{ readonly runId: string }>) => views.map((v) => v.runId).sort()
      const list = (urlParams: Parameters<typeof p.admin.runs.list>[0]["urlParams"]) => Effect.map(p.admin.runs.list({ urlParams }), ids)

      expect(yield* list({ state: "queued" })).toEqual([queued, gpu].sort())
      expect(yield* list({ state: "awaiting_approval" })).toEqual([waiting])
      expect(yield* list({ state: "completed" })).toEqual([])
      expect(yield* list({ pool: poolName("gpu") })).toEqual([gpu])
      expect(yield* list({ pool: poolName("default") })).toEqual([queued, waiting].sort())
      expect(yield* list({ pool: poolName("default"), state: "queued" })).toEqual([queued])
      expect(yield* list({ pool: poolName("nowhere") })).toEqual([])
      expect((yield* list({ limit: 2 })).length).toBe(2)
      expect(ids(yield* p.requester.runs.list({ urlParams: { state: "awaiting_approval" } }))).toEqual([waiting])

      const bad = yield* raw(p.url, "GET", "/runs?state=sleeping", { token: p.adminToken })
      expect(bad.status).toBe(400)
      expect((bad.body as ErrorBody).error).toBe("BadRequest")
    }).pipe(plane(policyWith({
      pools: ["default", "gpu"],
      consent: [{ id: "namespace-needs-a-human", when: { tiers: ["namespace"] }, decision: "ask" }]
    }))))

  it.live("export (admin) is JSONL, one line per run, with the receipt once completed; since in the future returns nothing", () =>
    Effect.gen(function*() {
      const p = yield* principals
      const runner = yield* enrollRunner(p, "runner-a")
      const first = yield* created(yield* p.requester.runs.create({ payload: request() }))
      const { completed } = yield* completeOne(p, runner)
      const second = yield* created(yield* p.requester.runs.create({ payload: request() }))

      const text = yield* p.admin.admin.export({ urlParams: {} })
      expect(text.endsWith("\n")).toBe(true)
      const lines = text.slice(0, -1).split("\n").map((line) => JSON.parse(line) as { type: string; run: { runId: string; state: string }; receipt?: unknown })
      expect(lines.length).toBe(2)
      const byId = new Map(lines.map((l) => [l.run.runId, l] as const))
      expect(byId.get(first)).toEqual({ type: "run", run: JSON.parse(JSON.stringify(completed.run)), receipt: Schema.encodeSync(Receipt)(completed.receipt) })
      expect(byId.get(second)).toMatchObject({ type: "run", run: { runId: second, state: "queued" } })
      expect(byId.get(second)).not.toHaveProperty("receipt")

      const raw200 = yield* raw(p.url, "GET", "/export", { token: p.adminToken })
      expect(raw200.status).toBe(200)

      expect(yield* p.admin.admin.export({ urlParams: { since: Schema.decodeSync(Timestamp)("2999-01-01T00:00:00.000Z") } })).toBe("")
      const byRequester = yield* raw(p.url, "GET", "/export", { token: p.requesterToken })
      expect(byRequester.status).toBe(403)
      expect((byRequester.body as ErrorBody).error).toBe("Forbidden")
    }).pipe(plane(attestOnly)))
})

/**
 * A plane for tests: an in-memory SQLite store (or a file, to test restarts), fresh keys, the
 * sample policy unless another is given, on an ephemeral loopback port. Users' own typed tests
 * start here too.
 */
import { FetchHttpClient } from "@effect/platform"
import { Duration, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { generateKey } from "../crypto/Ed25519.js"
import * as Signer from "../crypto/Signer.js"
import type { Policy } from "../protocol/Policy.js"
import * as Plane from "../plane/Plane.js"
import * as PlaneConfig from "../plane/PlaneConfig.js"
import * as Store from "../plane/Store.js"
import { samplePolicy } from "./SampleRun.js"

export interface TestPlaneOptions {
  readonly policy?: Policy
  /** A SQLite file; ":memory:" by default. */
  readonly filename?: string
  readonly signer?: Signer.SignerShape
  readonly masterKey?: Uint8Array
  readonly settings?: Partial<Omit<PlaneConfig.PlaneSettings, "policy" | "masterKey">>
}

export const freshMasterKey = (): Uint8Array => new Uint8Array(randomBytes(32))

/** The plane, its services, and an HttpClient for `Client.makeClient`. */
export const layer = (options: TestPlaneOptions = {}) =>
  Layer.merge(planeOnly(options), FetchHttpClient.layer)

const planeOnly = (options: TestPlaneOptions) =>
  Plane.make({
    settings: PlaneConfig.make(
      { policy: options.policy ?? samplePolicy, masterKey: Redacted.make(options.masterKey ?? freshMasterKey()) },
      { sweepEvery: Duration.millis(100), ...options.settings }
    ),
    store: Store.layerSqlite(options.filename ?? ":memory:"),
    signer: Layer.succeed(Signer.Signer, options.signer ?? Signer.make(Redacted.make(generateKey().secretKey))),
    listen: { host: "127.0.0.1", port: 0 }
  })

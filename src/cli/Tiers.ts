/**
 * The tiers a local command (`warrant exec`, `warrant doctor`) offers: every tier this build
 * has, each configured from the command's options and the environment, so one probe or one
 * session sees the same backends a runner would.
 */
import type { Effect } from "effect"
import * as Container from "../backends/Container.js"
import * as Hermetic from "../backends/Hermetic.js"
import * as Namespace from "../backends/Namespace.js"
import * as Process from "../backends/Process.js"
import type { SessionBackend } from "../backends/SessionBackend.js"
import * as VercelSandbox from "../backends/VercelSandbox.js"
import type { EgressProxy } from "../egress/EgressProxy.js"

export interface TierOptions {
  readonly containerImage?: string
  readonly containerRuntime?: Container.ContainerOptions["runtime"]
}

export const localTiers = (options: TierOptions = {}): ReadonlyArray<Effect.Effect<SessionBackend, never, EgressProxy>> => [
  Process.make,
  Hermetic.make,
  Namespace.make(),
  Container.make({
    ...(options.containerImage === undefined ? {} : { image: options.containerImage }),
    ...(options.containerRuntime === undefined ? {} : { runtime: options.containerRuntime })
  }),
  VercelSandbox.make()
]

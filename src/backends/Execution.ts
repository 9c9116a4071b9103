/**
 * A prepared execution: what a session runs, where, for how long, with which environment —
 * derived purely from a verified contract (and its policy) before any tier sees it.
 */
import type { AgentKind, SecretName } from "../protocol/Ids.js"
import type { NetworkPolicy } from "../protocol/Network.js"

export type PreparedCommand =
  | { readonly kind: "argv"; readonly argv: readonly [string, ...Array<string>] }
  | { readonly kind: "shell"; readonly shell: "sh" | "bash"; readonly script: string }

/** A literal value, or a released secret a backend substitutes at the last moment. */
export type EnvValue =
  | { readonly _tag: "Literal"; readonly value: string }
  | { readonly _tag: "Secret"; readonly secret: SecretName }

export interface PreparedExecution {
  readonly agent: AgentKind
  readonly command: PreparedCommand
  /** Relative to the workspace root, normalised; "." for the root. */
  readonly cwd: string
  readonly timeoutMs: number
  readonly logMaxBytes: number
  /** Variable name → value. Secret mappings whose secret was not released are absent. */
  readonly env: Readonly<Record<string, EnvValue>>
  /** Route network traffic through a per-session egress proxy enforcing `network`. */
  readonly egressProxy: boolean
  readonly network: NetworkPolicy
}

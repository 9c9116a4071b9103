/**
 * What a Vercel Sandbox is created with, as a pure function of the prepared execution and
 * the tier's options: the image or runtime, the source, the sandbox's own lifetime, its
 * resources and tags, and — the part that must never widen — the network policy the VM's
 * firewall enforces. A contract the VM's policy cannot express exactly is refused.
 */
import { Either, type Redacted } from "effect"
import type { NetworkPolicy as VercelNetworkPolicy } from "@vercel/sandbox"
import { compile } from "../egress/EgressPolicy.js"
import { parseAuthority } from "../egress/Host.js"
import type { NetworkPolicy } from "../protocol/Network.js"
import type { PreparedExecution } from "./Execution.js"

export type { VercelNetworkPolicy }

export type VercelSource =
  | { readonly type: "git"; readonly url: string; readonly depth?: number; readonly revision?: string }
  | {
    readonly type: "git"
    readonly url: string
    readonly username: string
    /** Unwrapped only by the SDK adapter, at the last moment. */
    readonly password: Redacted.Redacted<string>
    readonly depth?: number
    readonly revision?: string
  }
  | { readonly type: "tarball"; readonly url: string }
  | { readonly type: "snapshot"; readonly snapshotId: string }

export interface CreateOptions {
  /** A legacy Vercel runtime such as node22; the default when neither this nor `image` is set. */
  readonly runtime?: string
  /** A Vercel Container Registry image; not together with `runtime`. */
  readonly image?: string
  /** Git, tarball or snapshot; a snapshot brings its own image, so neither of the above. */
  readonly source?: VercelSource
  /** Whether the sandbox keeps its filesystem between sessions; false unless asked. */
  readonly persistent?: boolean
  readonly resources?: { readonly vcpus: number }
  readonly tags?: Readonly<Record<string, string>>
  /** Added to the execution's timeout for the sandbox's own lifetime: staging and mirror-back. */
  readonly timeoutMarginMs?: number
}

interface CreateBase {
  /** The sandbox's own lifetime: Vercel stops it then even if the runner has vanished. */
  readonly timeout: number
  readonly networkPolicy: VercelNetworkPolicy
  readonly persistent: boolean
  readonly resources?: { readonly vcpus: number }
  readonly tags?: Readonly<Record<string, string>>
}

type NonSnapshotSource = Exclude<VercelSource, { readonly type: "snapshot" }>

/** The create parameters without credentials (those travel apart, so this can be logged and compared). */
export type CreateInput =
  | CreateBase & { readonly runtime: string; readonly source?: NonSnapshotSource }
  | CreateBase & { readonly image: string; readonly source?: NonSnapshotSource }
  | CreateBase & { readonly source: Extract<VercelSource, { readonly type: "snapshot" }> }

export const DEFAULT_RUNTIME = "node22"

/** Time for staging and mirror-back on top of the command's own timeout. */
export const DEFAULT_TIMEOUT_MARGIN_MS = 5 * 60 * 1000

/** Vercel accepts at most this many tags on a sandbox. */
export const MAX_TAGS = 5

const hostOnly = (entry: string): string => (entry.startsWith("*.") ? entry.slice(2) : entry)

/**
 * The VM's policy for the contract's, or why it has none that is as narrow.
 *
 * - `defaultDeny: false` is allow-all. The egress proxy then still refuses cloud-metadata
 *   addresses, which guard the runner's cloud credentials; the VM runs on Vercel's network,
 *   where there are none of the runner's to reach.
 * - `defaultDeny: true` with no host is deny-all.
 * - Hosts become the VM's domain allowlist (exact names, `*.domain` wildcards). A host with
 *   a port cannot be expressed (the VM allows a domain on every port), nor an IP address (only
 *   a subnet rule could name it, and a subnet rule bypasses the domain list on every port),
 *   nor `allowAddresses` (the same subnet rule). Each is refused, never widened.
 *
 * `egressProxy` plays no part: the VM's firewall applies whether or not traffic would have
 * gone through a proxy, so turning the proxy off cannot open the network.
 */
export const vercelNetworkPolicy = (network: NetworkPolicy): Either.Either<VercelNetworkPolicy, string> => {
  if (!network.defaultDeny) return Either.right("allow-all")
  const compiled = compile(network)
  if (Either.isLeft(compiled)) return Either.left(`the network policy is invalid: ${compiled.left.message}`)
  const addresses = network.allowAddresses ?? []
  if (addresses.length > 0) {
    return Either.left(
      `allowAddresses (${addresses.join(", ")}) cannot be expressed by the sandbox's network policy: ` +
        "a subnet rule there would admit every port and bypass the host allowlist"
    )
  }
  if (compiled.right.rules.length === 0) return Either.right("deny-all")
  const allow: Array<string> = []
  for (const rule of compiled.right.rules) {
    if (rule.port !== undefined) {
      return Either.left(
        `the allowed host ${JSON.stringify(rule.source)} names a port, and the sandbox's network policy allows a domain on every port`
      )
    }
    const authority = parseAuthority(hostOnly(rule.source), 0)
    if (Either.isRight(authority) && authority.right.host._tag === "Ip") {
      return Either.left(
        `the allowed host ${JSON.stringify(rule.source)} is an IP address, which the sandbox's domain allowlist cannot name`
      )
    }
    const domain = rule.wildcard ? `*.${rule.host}` : rule.host
    if (!allow.includes(domain)) allow.push(domain)
  }
  return Either.right({ allow })
}

/** Everything the sandbox is created with except credentials, or why the options or the contract cannot be honoured. */
export const createInput = (execution: PreparedExecution, options: CreateOptions): Either.Either<CreateInput, string> =>
  Either.gen(function*() {
    const networkPolicy = yield* vercelNetworkPolicy(execution.network)
    if (options.runtime !== undefined && options.image !== undefined) {
      return yield* Either.left("set either runtime or image for the sandbox, not both")
    }
    const tags = options.tags
    if (tags !== undefined && Object.keys(tags).length > MAX_TAGS) {
      return yield* Either.left(`a sandbox takes at most ${MAX_TAGS} tags; ${Object.keys(tags).length} were given`)
    }
    const margin = options.timeoutMarginMs ?? DEFAULT_TIMEOUT_MARGIN_MS
    const base: CreateBase = {
      timeout: execution.timeoutMs + margin,
      networkPolicy,
      persistent: options.persistent ?? false,
      ...(options.resources === undefined ? {} : { resources: options.resources }),
      ...(tags === undefined ? {} : { tags })
    }
    const source = options.source
    if (source?.type === "snapshot") {
      if (options.runtime !== undefined || options.image !== undefined) {
        return yield* Either.left("a snapshot source brings its own image; runtime and image cannot be set with it")
      }
      return { ...base, source }
    }
    const withSource = source === undefined ? base : { ...base, source }
    return options.image !== undefined
      ? { ...withSource, image: options.image }
      : { ...withSource, runtime: options.runtime ?? DEFAULT_RUNTIME }
  })

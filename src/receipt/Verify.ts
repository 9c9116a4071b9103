/**
 * Offline verification of a receipt bundle: pure, synchronous, no network, never throws.
 * Every signature, the contract hash, every chain link, the head, count and tree root, and
 * every receipt summary re-derived from the events; each disagreement is one problem.
 */
import { Either, Schema } from "effect"
import { treeHead } from "../chain/EventsTree.js"
import { verifyChain } from "../chain/Link.js"
import { canonicalize } from "../protocol/Canonical.js"
import { checkVersion, type ProtocolDecodeError, type UnsupportedVersion, versionedDecoder, versionField } from "../protocol/Decode.js"
import { decodeContract } from "../protocol/Contract.js"
import { ChainEntry, type ChainEntryEncoded, terminalTags } from "../protocol/Event.js"
import { hashCanonical, type Sha256 } from "../protocol/Hash.js"
import { dimensions, type KeyId, millisOf, type PublicKeyHex } from "../protocol/Ids.js"
import { decodeReceipt, type Receipt } from "../protocol/Receipt.js"
import { PublicKeyRecord, type Signature, type SignerRole } from "../protocol/Signature.js"
import { keyIdOf } from "../crypto/Ed25519.js"
import { verifyObjectSignature } from "../crypto/Signer.js"
import { fastValidator } from "../protocol/Validator.js"
import { type Problem, problem } from "./Problem.js"
import { summarize } from "./Summary.js"

export interface TrustedKey {
  readonly keyId: KeyId
  /** When given, used even if the bundle does not carry the key. */
  readonly publicKey?: PublicKeyHex
  /** When given, the key is trusted only for these roles. */
  readonly roles?: ReadonlyArray<SignerRole>
}

export interface VerifyOptions {
  /** When present, a signature by any key not listed here is a problem. */
  readonly trustedKeys?: ReadonlyArray<TrustedKey>
  /** Default true: a bundle must carry the plane's countersignature. */
  readonly requireCountersignature?: boolean
  /** Clock skew tolerated between the plane's and the runner's clocks; default 60 s. */
  readonly clockSkewMillis?: number
}

export interface Signers {
  readonly contract: KeyId | null
  readonly receipt: KeyId | null
  readonly countersignature: KeyId | null
}

export interface Verification {
  readonly valid: boolean
  readonly problems: ReadonlyArray<Problem>
  readonly signers: Signers
  /** False when no trusted keys were given: only internal consistency was checked. */
  readonly trustChecked: boolean
}

/** A run is signed by two or three keys; a long list is noise or an attempt to slow verification. */
const MAX_KEYS = 16

const BundleShell = Schema.Struct({
  version: versionField("bundle"),
  contract: Schema.Unknown,
  events: Schema.Array(Schema.Unknown),
  receipt: Schema.Unknown,
  keys: Schema.Array(Schema.Unknown)
})
const decodeShell = versionedDecoder("bundle", BundleShell)

/**
 * Whether the input is a bundle at all (a v1 bundle's outer shape), before judging it:
 * lets a command tell "not a bundle" apart from "an invalid bundle".
 */
export const bundleShape = (input: unknown): "bundle" | "not-a-bundle" | "unsupported-version" => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return "not-a-bundle"
  const shell = decodeShell(input)
  return Either.isRight(shell) ? "bundle" : shell.left._tag === "UnsupportedVersion" ? "unsupported-version" : "not-a-bundle"
}
const decodeEntries = versionedDecoder("event", Schema.Array(ChainEntry))
// Valid chains take the fast path; only an invalid one pays for Schema's full error report.
const isEntries = fastValidator(Schema.Array(ChainEntry))
const decodeKey = Schema.decodeUnknownEither(PublicKeyRecord)

const sameJson = (a: unknown, b: unknown): boolean => {
  const x = canonicalize(a)
  const y = canonicalize(b)
  return Either.isRight(x) && Either.isRight(y) && x.right === y.right
}

/**
 * Verifies a bundle given as JSON data, as `JSON.parse` produces it. (A value built in
 * JavaScript with getters or non-enumerable fields is not JSON data: hashes see only what
 * `Object.keys` lists. Parse the bytes you received; do not pass live objects from elsewhere.)
 */
export const verifyBundle = (input: unknown, options: VerifyOptions = {}): Verification => {
  const trustChecked = options.trustedKeys !== undefined
  try {
    return check(input, options)
  } catch (error) {
    // Defensive: nothing above should throw, but a verifier must answer, not crash.
    return {
      valid: false,
      problems: [problem("$", "bundle.malformed", `verification could not complete: ${String(error)}`)],
      signers: { contract: null, receipt: null, countersignature: null },
      trustChecked
    }
  }
}

type SignatureChecker = (
  family: "contract" | "receipt",
  object: unknown,
  signature: Signature,
  where: string,
  code: "contract.signature-invalid" | "receipt.signature-invalid" | "receipt.countersignature-invalid",
  countersigns?: ReadonlyArray<Signature>
) => boolean

const check = (input: unknown, options: VerifyOptions): Verification => {
  const problems: Array<Problem> = []
  const signers: { contract: KeyId | null; receipt: KeyId | null; countersignature: KeyId | null } = {
    contract: null,
    receipt: null,
    countersignature: null
  }
  const trustChecked = options.trustedKeys !== undefined
  const done = (): Verification => ({ valid: problems.length === 0, problems, signers, trustChecked })
  const decodeProblems = (error: ProtocolDecodeError | UnsupportedVersion, where: string) => {
    if (error._tag === "UnsupportedVersion") problems.push(problem(where, "bundle.unsupported-version", error.message))
    else for (const issue of error.issues) problems.push(problem(issue.path, "bundle.malformed", issue.message))
  }

  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    problems.push(problem("$", "bundle.malformed", "a bundle is a JSON object with contract, events, receipt and keys"))
    return done()
  }
  const shell = decodeShell(input)
  if (Either.isLeft(shell)) {
    decodeProblems(shell.left, "$.version")
    return done()
  }
  const raw = shell.right

  // Keys: every keyId must be the one its public key derives to, or the key is ignored.
  const keys = new Map<string, PublicKeyHex>()
  if (raw.keys.length > MAX_KEYS) {
    problems.push(problem("$.keys", "bundle.malformed", `a bundle lists at most ${MAX_KEYS} keys; this one lists ${raw.keys.length}`))
  }
  raw.keys.slice(0, MAX_KEYS).forEach((value, i) => {
    const key = decodeKey(value)
    if (Either.isLeft(key)) return problems.push(problem(`$.keys[${i}]`, "bundle.malformed", "expected { alg: \"ed25519\", keyId, publicKey }"))
    if (keyIdOf(key.right.publicKey) !== key.right.keyId) {
      return problems.push(problem(`$.keys[${i}]`, "key.id-mismatch", `keyId ${key.right.keyId} is not derived from the public key listed with it`))
    }
    keys.set(key.right.keyId, key.right.publicKey)
  })
  for (const trusted of options.trustedKeys ?? []) {
    if (trusted.publicKey !== undefined && keyIdOf(trusted.publicKey) === trusted.keyId) keys.set(trusted.keyId, trusted.publicKey)
  }

  const checkTrust = (signature: Signature, where: string) => {
    if (options.trustedKeys === undefined) return
    const trusted = options.trustedKeys.find((k) => k.keyId === signature.keyId)
    if (trusted === undefined) {
      problems.push(problem(where, "trust.untrusted-key", `signed (${signature.role}) by ${signature.keyId}, which is not a trusted key`))
    } else if (trusted.roles !== undefined && !trusted.roles.includes(signature.role)) {
      problems.push(problem(where, "trust.untrusted-key", `${signature.keyId} is trusted, but not as ${signature.role}`))
    }
  }

  /** Verifies one signature with a key from the bundle (or the trust list); true when valid. */
  const checkSignature: SignatureChecker = (family, object, signature, where, code, countersigns = []) => {
    checkTrust(signature, where)
    const publicKey = keys.get(signature.keyId)
    if (publicKey === undefined) {
      problems.push(problem(where, "key.missing", `the bundle carries no public key for ${signature.keyId}`))
      return false
    }
    const verdict = verifyObjectSignature(family, object, signature, { alg: "ed25519", keyId: signature.keyId, publicKey }, countersigns)
    if (Either.isLeft(verdict)) problems.push(problem(where, code, verdict.left.message))
    return Either.isRight(verdict)
  }

  // Contract: its issuer signature and its hash, the genesis of the chain.
  const contractDecoded = decodeContract(raw.contract, "$.contract")
  if (Either.isLeft(contractDecoded)) decodeProblems(contractDecoded.left, "$.contract.version")
  const contract = Either.getOrUndefined(contractDecoded)
  let contractHash: Sha256 | undefined
  if (contract !== undefined) {
    const hashed = hashCanonical(raw.contract)
    if (Either.isLeft(hashed)) {
      problems.push(problem(hashed.left.path.replace(/^\$/, "$.contract"), "bundle.malformed", hashed.left.message))
    }
    contractHash = Either.getOrUndefined(hashed)
    const [signature, ...extra] = contract.signatures
    if (signature === undefined) {
      problems.push(problem("$.contract.signatures", "contract.signature-missing", "the contract is not signed"))
    } else {
      signers.contract = signature.keyId
      if (signature.role !== "issuer" || signature.keyId !== contract.issuer.keyId) {
        problems.push(problem("$.contract.signatures[0]", "contract.issuer-mismatch", `the contract names issuer ${contract.issuer.keyId} but is signed (${signature.role}) by ${signature.keyId}`))
      }
      checkSignature("contract", raw.contract, signature, "$.contract.signatures[0]", "contract.signature-invalid")
      extra.forEach((s, i) => problems.push(problem(`$.contract.signatures[${i + 1}]`, "contract.issuer-mismatch", `unexpected extra signature (${s.role}) by ${s.keyId}`)))
    }
  }

  // Events: schema first (each entry's version too), then the links from the contract hash.
  let entries: ReadonlyArray<ChainEntry> | undefined
  const rawEntries = raw.events as ReadonlyArray<ChainEntryEncoded>
  if (isEntries(raw.events)) {
    entries = raw.events
  } else {
    // Only an invalid chain pays for finding which entry is of another version, or why.
    const index = raw.events.findIndex((e) => Either.isLeft(checkVersion("event", e)))
    const unsupported = index < 0 ? undefined : checkVersion("event", raw.events[index])
    if (unsupported !== undefined && Either.isLeft(unsupported)) {
      decodeProblems(unsupported.left, `$.events[${index}].version`)
    } else {
      const decoded = decodeEntries(raw.events, "$.events")
      if (Either.isLeft(decoded)) decodeProblems(decoded.left, "$.events")
      else entries = decoded.right
    }
  }
  if (entries !== undefined && contractHash !== undefined) {
    const verdict = verifyChain(rawEntries, contractHash)
    if (!verdict.ok) problems.push(problem(`$.events[${verdict.broken.index}]`, `chain.${verdict.broken.kind}`, verdict.broken.message))
    const last = entries.at(-1)
    if (last === undefined || !terminalTags.has(last.event.type)) {
      problems.push(problem("$.events", "chain.unterminated", "the chain does not end with run.completed, run.failed or run.cancelled"))
    }
  }

  // Receipt: what it claims against what the contract and the events say.
  const receiptDecoded = decodeReceipt(raw.receipt, "$.receipt")
  if (Either.isLeft(receiptDecoded)) decodeProblems(receiptDecoded.left, "$.receipt.version")
  const receipt = Either.getOrUndefined(receiptDecoded)
  if (receipt !== undefined) {
    checkReceiptSignatures(receipt, raw.receipt, options, signers, problems, checkSignature)
    checkSeparation(receipt, contract, problems)
    if (contract !== undefined) {
      if (receipt.runId !== contract.runId) {
        problems.push(problem("$.receipt.runId", "receipt.run-mismatch", `the receipt is for run ${receipt.runId}, the contract for ${contract.runId}`))
      }
      if (contractHash !== undefined && receipt.contractHash !== contractHash) {
        problems.push(problem("$.receipt.contractHash", "receipt.contract-hash-mismatch", `the receipt names contract ${receipt.contractHash}; the bundle's contract hashes to ${contractHash}`))
      }
      const manifestHash = Either.getOrUndefined(hashCanonical((raw.contract as { workspace: unknown }).workspace))
      if (receipt.workspaceIn.manifestHash !== manifestHash) {
        problems.push(problem("$.receipt.workspaceIn.manifestHash", "receipt.summary-mismatch", `the receipt names manifest ${receipt.workspaceIn.manifestHash}; the contract's workspace hashes to ${manifestHash}`))
      }
      if (receipt.runner.pool !== contract.runner.pool || receipt.runner.isolation !== contract.isolation.tier) {
        problems.push(problem("$.receipt.runner", "receipt.runner-mismatch", `the receipt's runner (pool ${receipt.runner.pool}, tier ${receipt.runner.isolation}) is not what the contract asked for (pool ${contract.runner.pool}, tier ${contract.isolation.tier})`))
      }
    }
    if (entries !== undefined) {
      checkAgainstEvents(receipt, entries, rawEntries, problems)
      if (contract !== undefined) checkHonesty(receipt, contract.isolation.enforce, entries, problems)
      if (contract !== undefined) checkValidity(contract, entries, options.clockSkewMillis ?? 60_000, problems)
    }
  }
  return done()
}

const checkReceiptSignatures = (
  receipt: Receipt,
  rawReceipt: unknown,
  options: VerifyOptions,
  signers: { receipt: KeyId | null; countersignature: KeyId | null },
  problems: Array<Problem>,
  checkSignature: SignatureChecker
) => {
  const [runnerSig, planeSig, ...extra] = receipt.signatures
  if (runnerSig === undefined || runnerSig.role !== "runner") {
    problems.push(problem("$.receipt.signatures[0]", "receipt.signature-missing", "the receipt's first signature must be the runner's"))
  } else {
    signers.receipt = runnerSig.keyId
    if (runnerSig.keyId !== receipt.runner.keyId) {
      problems.push(problem("$.receipt.signatures[0]", "receipt.runner-mismatch", `signed by ${runnerSig.keyId} but names runner key ${receipt.runner.keyId}`))
    }
    checkSignature("receipt", rawReceipt, runnerSig, "$.receipt.signatures[0]", "receipt.signature-invalid")
  }
  if (planeSig === undefined) {
    if (options.requireCountersignature ?? true) {
      problems.push(problem("$.receipt.signatures", "receipt.countersignature-missing", "the receipt carries no plane countersignature"))
    }
  } else if (planeSig.role !== "plane") {
    problems.push(problem("$.receipt.signatures[1]", "receipt.unexpected-signature", `the second signature must be the plane's, not ${planeSig.role}`))
  } else {
    signers.countersignature = planeSig.keyId
    checkSignature("receipt", rawReceipt, planeSig, "$.receipt.signatures[1]", "receipt.countersignature-invalid", runnerSig === undefined ? [] : [runnerSig])
  }
  extra.forEach((s, i) => problems.push(problem(`$.receipt.signatures[${i + 2}]`, "receipt.unexpected-signature", `unexpected signature (${s.role}) by ${s.keyId}`)))
}

const checkAgainstEvents = (
  receipt: Receipt,
  entries: ReadonlyArray<ChainEntry>,
  rawEntries: ReadonlyArray<ChainEntryEncoded>,
  problems: Array<Problem>
) => {
  const head = rawEntries.at(-1)?.hash
  if (receipt.eventsHead !== head) {
    problems.push(problem("$.receipt.eventsHead", "receipt.head-mismatch", `the receipt commits to head ${receipt.eventsHead}; the last event's hash is ${head ?? "(no events)"}`))
  }
  if (receipt.eventCount !== entries.length) {
    problems.push(problem("$.receipt.eventCount", "receipt.count-mismatch", `the receipt counts ${receipt.eventCount} events; the bundle has ${entries.length}`))
  }
  const tree = treeHead(rawEntries.map((e) => e.hash))
  if (!sameJson(receipt.eventsTree, tree)) {
    problems.push(problem("$.receipt.eventsTree", "receipt.tree-mismatch", `the receipt's Merkle root ${receipt.eventsTree.root} (size ${receipt.eventsTree.size}) is not the root of the events, ${tree.root} (size ${tree.size})`))
  }
  const summary = summarize(entries)
  const mismatch = (field: string, claimed: unknown, derived: unknown) => {
    if (!sameJson(claimed ?? null, derived ?? null)) {
      problems.push(problem(`$.receipt.${field}`, "receipt.summary-mismatch", `the receipt says ${JSON.stringify(claimed ?? null)}; the events say ${JSON.stringify(derived ?? null)}`))
    }
  }
  mismatch("status", receipt.status, summary.status)
  mismatch("startedAt", receipt.startedAt, summary.startedAt)
  mismatch("endedAt", receipt.endedAt, summary.endedAt)
  mismatch("secretsReleased", receipt.secretsReleased, summary.secretsReleased)
  mismatch("networkAccessed", receipt.networkAccessed, summary.networkAccessed)
  mismatch("boundaryDisclosures", receipt.boundaryDisclosures, summary.boundaryDisclosures)
  mismatch("sandbox", receipt.sandbox, summary.sandbox)
  mismatch("workspaceOut.diffHash", receipt.workspaceOut.diffHash, summary.diffHash)
  mismatch("workspaceOut.artifactHashes", receipt.workspaceOut.artifactHashes, summary.artifactHashes)
  if (summary.manifestHash !== undefined) mismatch("workspaceIn.manifestHash", receipt.workspaceIn.manifestHash, summary.manifestHash)
  entries.forEach((entry, i) => {
    const event = entry.event
    if (event.type !== "run.claimed") return
    if (event.keyId !== receipt.runner.keyId || event.runnerId !== receipt.runner.runnerId || event.pool !== receipt.runner.pool) {
      problems.push(problem(`$.events[${i}]`, "receipt.runner-mismatch", `run.claimed names runner ${event.runnerId} (${event.keyId}, pool ${event.pool}); the receipt names ${receipt.runner.runnerId} (${receipt.runner.keyId}, pool ${receipt.runner.pool})`))
    }
  })
}

/**
 * The countersignature is the issuing plane accepting the runner's account: it must come from
 * the contract's issuer and never from the runner's own key, whatever keys are trusted.
 */
const checkSeparation = (receipt: Receipt, contract: { readonly issuer: { readonly keyId: string } } | undefined, problems: Array<Problem>) => {
  const [runnerSig, planeSig] = receipt.signatures
  if (runnerSig === undefined || planeSig === undefined || planeSig.role !== "plane") return
  if (planeSig.keyId === runnerSig.keyId) {
    problems.push(problem("$.receipt.signatures[1]", "receipt.countersigner-mismatch", `the runner's key ${runnerSig.keyId} countersigned its own receipt`))
  } else if (contract !== undefined && planeSig.keyId !== contract.issuer.keyId) {
    problems.push(problem("$.receipt.signatures[1]", "receipt.countersigner-mismatch", `countersigned by ${planeSig.keyId}, not by the plane that issued the contract (${contract.issuer.keyId})`))
  }
}

/** Honest tiers: a command never runs unattested, and a demanded dimension was enforced. */
const checkHonesty = (
  receipt: Receipt,
  demanded: ReadonlyArray<(typeof dimensions)[number]>,
  entries: ReadonlyArray<ChainEntry>,
  problems: Array<Problem>
) => {
  const attested = entries.findIndex((e) => e.event.type === "sandbox.attested")
  const executed = entries.findIndex((e) => e.event.type === "command.executed")
  if (executed >= 0 && (attested < 0 || attested > executed)) {
    problems.push(problem(`$.events[${executed}]`, "receipt.dishonest-tier", "a command ran before any sandbox.attested event recorded its enforcement"))
  }
  const sandbox = receipt.sandbox
  if (sandbox === undefined) return
  if (sandbox.tier !== receipt.runner.isolation) {
    problems.push(problem("$.receipt.sandbox.tier", "receipt.dishonest-tier", `the sandbox attests tier ${sandbox.tier}; the receipt claims ${receipt.runner.isolation}`))
  }
  const unenforced = dimensions.filter((d) => demanded.includes(d) && sandbox.matrix[d] !== "enforced")
  if (unenforced.length > 0) {
    problems.push(problem("$.receipt.sandbox.matrix", "receipt.dishonest-tier", `the contract demands enforcement of ${unenforced.join(", ")}, which tier ${sandbox.tier} only ${unenforced.map((d) => sandbox.matrix[d]).join(", ")}`))
  }
}

/** The run must have been claimed while its contract was valid. */
const checkValidity = (
  contract: { readonly issuedAt: string; readonly expiresAt: string },
  entries: ReadonlyArray<ChainEntry>,
  skew: number,
  problems: Array<Problem>
) => {
  const index = Math.max(0, entries.findIndex((e) => e.event.type === "run.claimed"))
  const started = entries[index]
  if (started === undefined) return
  const at = millisOf(started.ts)
  if (at < Date.parse(contract.issuedAt) - skew || at >= Date.parse(contract.expiresAt)) {
    problems.push(problem(`$.events[${index}].ts`, "contract.used-outside-validity", `the run started at ${started.ts}, outside the contract's validity ${contract.issuedAt} – ${contract.expiresAt}`))
  }
}

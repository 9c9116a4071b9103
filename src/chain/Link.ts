/**
 * The pure core of the event chain: how an entry is hashed and linked to its
 * predecessor, and how a whole chain is checked, reporting the first broken link.
 */
import { Either, Schema } from "effect"
import type { ChainEntry, ChainEntryEncoded, RunEvent } from "../protocol/Event.js"
import { RunEvent as RunEventSchema, terminalTags } from "../protocol/Event.js"
import { canonicalize } from "../protocol/Canonical.js"
import { hashCanonical, hashCanonicalOrThrow, sha256, type Sha256 } from "../protocol/Hash.js"
import type { Timestamp } from "../protocol/Ids.js"

export const EVENT_VERSION = "warrant.event.v1"

const encodeEvent = Schema.encodeSync(RunEventSchema)

const envelope = new Set(["event", "hash", "prevHash", "seq", "ts", "version"])

// Printable ASCII without `"` or `\`: its canonical form is itself in quotes.
const plain = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** The canonical text of an envelope field, on the fast path only; anything unusual goes the general way. */
const scalar = (value: unknown): string | undefined =>
  typeof value === "string" && plain.test(value)
    ? `"${value}"`
    : typeof value === "number" && Number.isSafeInteger(value)
    ? String(value)
    : undefined

/**
 * The canonical text of an entry without its hash, when it has exactly the envelope's fields:
 * the sorted key order is known, so only the event needs the general canonicaliser.
 */
const envelopeText = (entry: Record<string, unknown>): string | undefined => {
  const keys = Object.keys(entry)
  if (keys.length !== (Object.hasOwn(entry, "hash") ? 6 : 5) || !keys.every((k) => envelope.has(k) && entry[k] !== undefined)) return undefined
  const event = canonicalize(entry.event)
  const [prevHash, seq, ts, version] = [scalar(entry.prevHash), scalar(entry.seq), scalar(entry.ts), scalar(entry.version)]
  if (Either.isLeft(event) || prevHash === undefined || seq === undefined || ts === undefined || version === undefined) return undefined
  return `{"event":${event.right},"prevHash":${prevHash},"seq":${seq},"ts":${ts},"version":${version}}`
}

/** An entry's hash covers everything in it but the hash itself, unknown fields included. */
export const entryHash = (entry: Omit<ChainEntryEncoded, "hash">): Either.Either<Sha256, string> => {
  const text = envelopeText(entry as Record<string, unknown>)
  if (text !== undefined) return Either.right(sha256(text))
  const { hash: _ignored, ...body } = entry as ChainEntryEncoded
  return Either.mapLeft(hashCanonical(body), (e) => e.message)
}

export const link = (prevHash: Sha256, seq: number, ts: Timestamp, event: RunEvent): ChainEntry => {
  const body = { version: EVENT_VERSION, seq, ts, event: encodeEvent(event), prevHash }
  return { ...body, hash: hashCanonicalOrThrow(body) } as ChainEntry
}

export type ChainBreakKind = "seq" | "prevHash" | "hash" | "ts" | "afterTerminal"

export interface ChainBreak {
  /** Index in the array of the first entry that does not link. */
  readonly index: number
  readonly kind: ChainBreakKind
  readonly message: string
}

export type ChainVerdict =
  | { readonly ok: true; readonly head: Sha256; readonly count: number }
  | { readonly ok: false; readonly broken: ChainBreak }

/** Where a continuation starts: the entry before it (or the genesis, for a whole chain). */
export interface ChainPosition {
  readonly seq: number
  readonly prevHash: string
  readonly ts: string
  readonly lastType: string | undefined
}

/**
 * Checks a chain as received (each entry already schema-valid). Hashes are recomputed from
 * the entries as given, so fields this build does not know still count.
 */
export const verifyChain = (entries: ReadonlyArray<ChainEntryEncoded>, genesis: Sha256): ChainVerdict =>
  verifyFrom(entries, { seq: 0, prevHash: genesis, ts: "", lastType: undefined })

/** Checks entries that continue a chain at `start`; indices in a break are within `entries`. */
export const verifyFrom = (entries: ReadonlyArray<ChainEntryEncoded>, start: ChainPosition): ChainVerdict => {
  let prev: string = start.prevHash
  let prevTs = start.ts
  let lastType = start.lastType
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!
    const seq = start.seq + index
    const broken = (kind: ChainBreakKind, message: string): ChainVerdict => ({ ok: false, broken: { index, kind, message } })
    if (entry.seq !== seq) return broken("seq", `entry ${index} has seq ${entry.seq}; expected ${seq}`)
    if (entry.prevHash !== prev) {
      return broken("prevHash", `entry ${index} links to ${entry.prevHash}, but the previous hash is ${prev}`)
    }
    const computed = entryHash(entry)
    if (Either.isLeft(computed)) return broken("hash", `entry ${index} cannot be hashed: ${computed.left}`)
    if (computed.right !== entry.hash) {
      return broken("hash", `entry ${index} claims hash ${entry.hash}, but its content hashes to ${computed.right}`)
    }
    // ISO-8601 UTC timestamps of one fixed width compare correctly as strings.
    if (entry.ts < prevTs) return broken("ts", `entry ${index} at ${entry.ts} is earlier than its predecessor at ${prevTs}`)
    if (lastType !== undefined && terminalTags.has(lastType as RunEvent["type"])) {
      return broken("afterTerminal", `entry ${index} follows the run's terminal event ${lastType}`)
    }
    prev = entry.hash
    prevTs = entry.ts
    lastType = entry.event.type
  }
  return { ok: true, head: prev as Sha256, count: start.seq + entries.length }
}

/**
 * A session's captured output with a hard cap: bytes past the cap are dropped and the
 * caller is told to stop the process tree; the stored log is redacted, then cut again to the
 * cap (never inside a placeholder) and marked.
 */
import type { Redactor } from "./Redaction.js"

export interface LogCapture {
  /** Appends; false once the cap is reached (the caller then kills the tree). */
  readonly write: (chunk: Uint8Array | string) => boolean
  /** The raw captured text, without marker and not yet redacted. */
  readonly snapshot: () => { readonly text: string; readonly truncated: boolean }
}

export const truncationMarker = (maxBytes: number) => `\n[warrant: log truncated at ${maxBytes} bytes]\n`

export const makeLogCapture = (maxBytes: number): LogCapture => {
  const chunks: Array<Buffer> = []
  let size = 0
  let truncated = false
  return {
    write: (chunk) => {
      if (truncated) return false
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk)
      const room = maxBytes - size
      if (bytes.length <= room) {
        chunks.push(bytes)
        size += bytes.length
        return true
      }
      // Cut on a character boundary, so the tail is text a redactor can still recognise.
      let cut = room
      while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--
      chunks.push(bytes.subarray(0, cut))
      size += cut
      truncated = true
      return false
    },
    // A cut may split a UTF-8 sequence; the decoder's replacement character marks it.
    snapshot: () => ({ text: Buffer.concat(chunks, size).toString("utf8"), truncated })
  }
}

/** Where to cut `text` at about `maxBytes`: on a character boundary, never inside a placeholder. */
const cutPoint = (text: string, maxBytes: number): number | undefined => {
  const bytes = Buffer.from(text, "utf8")
  if (bytes.length <= maxBytes) return undefined
  let cut = maxBytes
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--
  const at = bytes.subarray(0, cut).toString("utf8").length
  // A placeholder split in two would say neither what was there nor that it was a secret.
  for (const match of text.matchAll(/\[REDACTED:[^\]]*\]/g)) {
    const end = match.index + match[0].length
    if (match.index < at && at < end) return end
  }
  return at
}

/**
 * The log as stored: redacted (a cut tail that starts a secret included), then cut again —
 * a placeholder can be longer than the value it replaced — so it is at most the cap plus one
 * placeholder, then the marker.
 */
export const finishLog = (capture: LogCapture, redactor: Redactor, maxBytes: number) => {
  const { text, truncated } = capture.snapshot()
  const redacted = redactor.redact(text, { truncated })
  const cut = cutPoint(redacted.text, maxBytes)
  const body = cut === undefined ? redacted.text : redacted.text.slice(0, cut)
  const cutAgain = cut !== undefined && cut < redacted.text.length
  return {
    log: truncated || cutAgain ? body + truncationMarker(maxBytes) : body,
    truncated: truncated || cutAgain,
    redactions: redacted.counts
  }
}

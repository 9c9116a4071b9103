/**
 * A session's captured output with a hard cap: bytes past the cap are dropped and the
 * caller is told to stop the process tree; the stored log is redacted, then at most the cap
 * plus a marker.
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
      chunks.push(bytes.subarray(0, room))
      size = maxBytes
      truncated = true
      return false
    },
    // A cut may split a UTF-8 sequence; the decoder's replacement character marks it.
    snapshot: () => ({ text: Buffer.concat(chunks, size).toString("utf8"), truncated })
  }
}

/** The log as stored: redacted (a cut tail that starts a secret included), then the marker. */
export const finishLog = (capture: LogCapture, redactor: Redactor, maxBytes: number) => {
  const { text, truncated } = capture.snapshot()
  const redacted = redactor.redact(text, { truncated })
  return {
    log: truncated ? redacted.text + truncationMarker(maxBytes) : redacted.text,
    truncated,
    redactions: redacted.counts
  }
}

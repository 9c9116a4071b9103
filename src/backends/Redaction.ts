/**
 * Secret redaction for everything a session produces: every released value — and its
 * base64 (at any alignment), base64url, hex, URL-encoded and host-canonical forms — becomes
 * `[REDACTED:NAME]`, with a count per name and never the value. Pure.
 */
import { domainToASCII } from "node:url"

export interface Redacted {
  readonly text: string
  readonly counts: Readonly<Record<string, number>>
}

export interface Redactor {
  /**
   * `truncated`: the text was cut at a cap, so its tail may hold the start of a secret;
   * a tail that begins any form of a secret (at least 4 characters of it) is redacted too.
   */
  readonly redact: (text: string, options?: { readonly truncated?: boolean }) => Redacted
}

interface Needle {
  readonly name: string
  readonly form: string
}

/** Values shorter than this are not redacted: "a" or "1" would shred every log. */
export const MIN_SECRET_LENGTH = 4

/**
 * The base64 text that stands for `value` wherever it sits in an encoded stream: with 0, 1
 * or 2 bytes before it (HTTP Basic's `user:TOKEN`), the characters that also depend on the
 * neighbouring bytes left out.
 */
const embeddedBase64 = (bytes: Buffer, alphabet: "base64" | "base64url"): ReadonlyArray<string> =>
  [0, 1, 2].map((before) => {
    const text = Buffer.concat([Buffer.alloc(before), bytes]).toString(alphabet).replace(/=+$/, "")
    const total = before + bytes.length
    const end = total % 3 === 0 ? text.length : text.length - 1
    return text.slice([0, 2, 3][before], end)
  })

/** Hosts are canonicalised before they are recorded or echoed in a refusal: lower case, IDNA. */
const hostForms = (value: string): ReadonlyArray<string> => {
  const lower = value.toLowerCase()
  const idna = domainToASCII(lower)
  // A record of an unreadable authority keeps only a host's alphabet, the rest as "?".
  const sanitised = value.replace(/[^A-Za-z0-9.\-_:[\]]/g, "?")
  return [lower, idna, sanitised, sanitised.toLowerCase()].filter((form) => form !== "")
}

const formsOf = (value: string): ReadonlyArray<string> => {
  const bytes = Buffer.from(value, "utf8")
  const base64 = bytes.toString("base64")
  const hex = bytes.toString("hex")
  return [
    value,
    base64,
    base64.replace(/=+$/, ""),
    bytes.toString("base64url"),
    ...embeddedBase64(bytes, "base64"),
    ...embeddedBase64(bytes, "base64url"),
    hex,
    hex.toUpperCase(),
    encodeURIComponent(value),
    encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    escape(value),
    ...hostForms(value)
  ]
}

export const makeRedactor = (secrets: ReadonlyArray<{ readonly name: string; readonly value: string }>): Redactor => {
  const seen = new Set<string>()
  const needles: Array<Needle> = []
  for (const { name, value } of secrets) {
    if (value.length < MIN_SECRET_LENGTH) continue
    for (const form of formsOf(value)) {
      if (form.length < MIN_SECRET_LENGTH || seen.has(form)) continue
      seen.add(form)
      needles.push({ name, form })
    }
  }
  // Longest first, so a value is never half-replaced by a shorter form inside it.
  needles.sort((a, b) => b.form.length - a.form.length)
  return {
    redact: (text, options) => {
      const counts: Record<string, number> = {}
      let out = text
      for (const { form, name } of needles) {
        const parts = out.split(form)
        if (parts.length === 1) continue
        counts[name] = (counts[name] ?? 0) + parts.length - 1
        out = parts.join(`[REDACTED:${name}]`)
      }
      if (options?.truncated) {
        for (const { form, name } of needles) {
          for (let keep = Math.min(form.length - 1, out.length); keep >= MIN_SECRET_LENGTH; keep--) {
            if (out.endsWith(form.slice(0, keep))) {
              counts[name] = (counts[name] ?? 0) + 1
              out = `${out.slice(0, out.length - keep)}[REDACTED:${name}]`
              break
            }
          }
        }
      }
      return { text: out, counts }
    }
  }
}

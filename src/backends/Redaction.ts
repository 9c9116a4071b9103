/**
 * Secret redaction for everything a session produces: every released value — and its
 * base64, base64url, hex and URL-encoded forms — becomes `[REDACTED:NAME]`, with a count per
 * name and never the value. Pure.
 */

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

const formsOf = (value: string): ReadonlyArray<string> => {
  const bytes = Buffer.from(value, "utf8")
  const base64 = bytes.toString("base64")
  const hex = bytes.toString("hex")
  return [
    value,
    base64,
    base64.replace(/=+$/, ""),
    bytes.toString("base64url"),
    hex,
    hex.toUpperCase(),
    encodeURIComponent(value),
    encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    escape(value)
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

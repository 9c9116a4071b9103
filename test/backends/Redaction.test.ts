import { describe, expect, it } from "@effect/vitest"
import { finishLog, makeLogCapture, truncationMarker } from "../../src/backends/LogCapture.js"
import { makeRedactor, MIN_SECRET_LENGTH } from "../../src/backends/Redaction.js"

const token = "s3cr3t-Tok/en+=?&"
const redactor = makeRedactor([{ name: "NPM_TOKEN", value: token }])

describe("makeRedactor", () => {
  it.each([
    ["the value itself", token],
    ["base64", Buffer.from(token).toString("base64")],
    ["base64 without padding", Buffer.from(token).toString("base64").replace(/=+$/, "")],
    ["base64url", Buffer.from(token).toString("base64url")],
    ["hex", Buffer.from(token).toString("hex")],
    ["upper-case hex", Buffer.from(token).toString("hex").toUpperCase()],
    ["URL-encoded", encodeURIComponent(token)],
    ["URL-encoded, lower-case escapes", encodeURIComponent(token).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())]
  ])("redacts %s", (_, form) => {
    expect(redactor.redact(`before ${form} after`)).toEqual({ text: "before [REDACTED:NPM_TOKEN] after", counts: { NPM_TOKEN: 1 } })
  })

  it("counts every occurrence per name, and never returns a value", () => {
    const two = makeRedactor([{ name: "A", value: "alpha-secret" }, { name: "B", value: "beta-secret" }])
    expect(two.redact("alpha-secret beta-secret alpha-secret")).toEqual({
      text: "[REDACTED:A] [REDACTED:B] [REDACTED:A]",
      counts: { A: 2, B: 1 }
    })
  })

  it("a longer secret containing a shorter one is redacted whole", () => {
    const nested = makeRedactor([{ name: "SHORT", value: "abcd" }, { name: "LONG", value: "xxabcdxx" }])
    expect(nested.redact("xxabcdxx abcd").text).toBe("[REDACTED:LONG] [REDACTED:SHORT]")
  })

  it(`values shorter than ${MIN_SECRET_LENGTH} characters are not redacted (they would shred every log)`, () => {
    expect(makeRedactor([{ name: "PIN", value: "123" }]).redact("123 4123").text).toBe("123 4123")
  })

  it("a truncated log whose tail starts a secret has that tail redacted", () => {
    expect(redactor.redact(`log line ${token.slice(0, 6)}`, { truncated: true })).toEqual({
      text: "log line [REDACTED:NPM_TOKEN]",
      counts: { NPM_TOKEN: 1 }
    })
    expect(redactor.redact(`log line ${token.slice(0, 6)}`).text).toBe(`log line ${token.slice(0, 6)}`)
  })
})

describe("makeLogCapture + finishLog", () => {
  it("keeps everything under the cap", () => {
    const capture = makeLogCapture(100)
    expect([capture.write("hello "), capture.write(Buffer.from("world"))]).toEqual([true, true])
    expect(finishLog(capture, redactor, 100)).toEqual({ log: "hello world", truncated: false, redactions: {} })
  })

  it("stops at the cap, says so, and stores at most the cap plus the marker", () => {
    const capture = makeLogCapture(10)
    expect(capture.write("0123456789abcdef")).toBe(false)
    expect(capture.write("more")).toBe(false)
    const { log, truncated } = finishLog(capture, redactor, 10)
    expect([log, truncated]).toEqual([`0123456789${truncationMarker(10)}`, true])
  })

  it("a secret cut in half by the cap is still redacted", () => {
    const capture = makeLogCapture(14)
    capture.write(`token: ${token}`)
    expect(finishLog(capture, redactor, 14)).toEqual({
      log: `token: [REDACTED:NPM_TOKEN]${truncationMarker(14)}`,
      truncated: true,
      redactions: { NPM_TOKEN: 1 }
    })
  })
})

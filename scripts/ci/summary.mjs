// Prints the test run's closing line in the plain form CI reads: "vitest: N passed, N failed, N skipped".
import { readFileSync } from "node:fs"

const report = JSON.parse(readFileSync(".warrant/ci/vitest.json", "utf8"))
const skipped = report.numPendingTests + report.numTodoTests
console.log(`vitest: ${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`)

/**
 * A verification problem: where in the bundle, a stable code a program can match on, and
 * a sentence a person can act on.
 */
export interface Problem {
  /** A JSON path into the bundle, e.g. `$.events[3]` or `$.receipt.signatures[1]`. */
  readonly where: string
  readonly code: ProblemCode
  readonly message: string
}

export type ProblemCode =
  | "bundle.malformed"
  | "bundle.unsupported-version"
  | "key.id-mismatch"
  | "key.missing"
  | "trust.untrusted-key"
  | "contract.signature-missing"
  | "contract.signature-invalid"
  | "contract.issuer-mismatch"
  | "contract.used-outside-validity"
  | "chain.seq"
  | "chain.prevHash"
  | "chain.hash"
  | "chain.ts"
  | "chain.afterTerminal"
  | "chain.unterminated"
  | "receipt.run-mismatch"
  | "receipt.contract-hash-mismatch"
  | "receipt.head-mismatch"
  | "receipt.count-mismatch"
  | "receipt.tree-mismatch"
  | "receipt.summary-mismatch"
  | "receipt.runner-mismatch"
  | "receipt.dishonest-tier"
  | "receipt.signature-missing"
  | "receipt.signature-invalid"
  | "receipt.countersignature-missing"
  | "receipt.countersignature-invalid"
  | "receipt.countersigner-mismatch"
  | "receipt.unexpected-signature"

export const problem = (where: string, code: ProblemCode, message: string): Problem => ({ where, code, message })

/**
 * Warrant: a governed execution and provenance plane for AI coding agents.
 * The protocol, signatures, event chain, offline verification and the egress proxy.
 */
export * as Bundle from "./protocol/Bundle.js"
export * as Canonical from "./protocol/Canonical.js"
export * as Contract from "./protocol/Contract.js"
export * as Decode from "./protocol/Decode.js"
export * as Digest from "./protocol/Digest.js"
export * as Event from "./protocol/Event.js"
export * as Hash from "./protocol/Hash.js"
export * as Ids from "./protocol/Ids.js"
export * as Manifest from "./protocol/Manifest.js"
export * as Network from "./protocol/Network.js"
export * as Policy from "./protocol/Policy.js"
export * as Receipt from "./protocol/Receipt.js"
export * as Signature from "./protocol/Signature.js"
export * as WorkspacePath from "./protocol/WorkspacePath.js"

export * as ContractSigning from "./crypto/ContractSigning.js"
export * as Ed25519 from "./crypto/Ed25519.js"
export * as KeyFile from "./crypto/KeyFile.js"
export * as KeyRing from "./crypto/KeyRing.js"
export * as Signer from "./crypto/Signer.js"

export * as EventChain from "./chain/EventChain.js"
export * as EventsTree from "./chain/EventsTree.js"
export * as Link from "./chain/Link.js"
export * as Merkle from "./chain/Merkle.js"

export * as Disclosure from "./receipt/Disclosure.js"
export * as ReceiptBuilder from "./receipt/ReceiptBuilder.js"
export * as Render from "./receipt/Render.js"
export * as Verify from "./receipt/Verify.js"

export * as Address from "./egress/Address.js"
export * as EgressDecision from "./egress/EgressDecision.js"
export * as EgressPolicy from "./egress/EgressPolicy.js"
export * as EgressProxy from "./egress/EgressProxy.js"
export * as Host from "./egress/Host.js"
export * as Ranges from "./egress/Ranges.js"
export * as Resolver from "./egress/Resolver.js"

export * as SampleRun from "./testkit/SampleRun.js"

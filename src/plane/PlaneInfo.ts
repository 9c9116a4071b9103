/**
 * What a started plane tells the code that started it: where it listens, the key that signs its
 * contracts, and — on the store's first start only — the admin token.
 */
import { Context, type Option, type Redacted } from "effect"
import type { PublicKeyRecord } from "../protocol/Signature.js"

export interface PlaneInfoShape {
  /** e.g. http://127.0.0.1:7070 */
  readonly url: string
  readonly planeKey: PublicKeyRecord
  /** Present only when this start created the store's admin principal. */
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
}

export class PlaneInfo extends Context.Tag("warrant/plane/PlaneInfo")<PlaneInfo, PlaneInfoShape>() {}

/** The pools of the plane benchmark: one per client, so clients never claim each other's runs. */
import { Schema } from "effect"
import { PoolName } from "../../src/protocol/Ids.js"

export const benchPools = Array.from({ length: 8 }, (_, i) => Schema.decodeSync(PoolName)(`bench-${i}`))

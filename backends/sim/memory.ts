/**
 * Device memory accounting of one simulated rank.
 *
 * A rank's device holds its memory pools (`weights`, and `kv_cache` when the model has one) while
 * it is loaded and awake, plus one slot per loaded LoRA adapter; `execute` briefly adds
 * activations. Sleep at either level takes every pool off the device (level 1 keeps a copy in
 * host memory, level 2 discards it and a wake reloads it); adapters stay. Nothing is ever
 * allocated past `deviceBytes`: an allocation that does not fit is an `OutOfMemory` answer, which
 * is how the simulator produces the OOM scenarios operators test (DOMAIN.md section 7).
 *
 * These are pure functions over the worker's state, so the memory rules can be read, and
 * tested, apart from the worker's control flow.
 */
import { OutOfMemory } from "../../core/errors.ts"
import type { MemoryTag, SleepLevel } from "../../core/worker.ts"
import type { ResolvedSimModelConfig } from "./config.ts"

/** What memory accounting needs to know about a rank. */
export interface MemoryState {
  readonly loaded: boolean
  readonly sleepLevel: SleepLevel | null
  readonly adapterCount: number
}

/** The pools a sleep takes off the device, and a wake must name. */
export const sleepingPools = (config: ResolvedSimModelConfig): ReadonlyArray<MemoryTag> =>
  config.kvCacheBytes > 0 ? ["weights", "kv_cache"] : ["weights"]

/** Bytes of every pool together: what a load allocates, a sleep frees and a wake restores. */
export const poolBytes = (config: ResolvedSimModelConfig): number => config.weightsBytes + config.kvCacheBytes

/** Bytes on the device now. */
export const usedBytes = (config: ResolvedSimModelConfig, state: MemoryState): number => {
  const pools = state.loaded && state.sleepLevel === null ? poolBytes(config) : 0
  return pools + state.adapterCount * config.loraBytes
}

/** An `OutOfMemory` when `requestedBytes` more would overflow the device, else undefined. */
export const overflow = (
  config: ResolvedSimModelConfig,
  currentBytes: number,
  requestedBytes: number
): OutOfMemory | undefined => {
  const availableBytes = Math.max(0, config.deviceBytes - currentBytes)
  return requestedBytes > availableBytes ? new OutOfMemory({ requestedBytes, availableBytes }) : undefined
}

/** The sleeping pools that `tags` leave out; empty when the wake covers everything. */
export const missingWakeTags = (config: ResolvedSimModelConfig, tags: ReadonlyArray<MemoryTag>): Array<MemoryTag> =>
  sleepingPools(config).filter((pool) => !tags.includes(pool))

/**
 * The conditioning cache: text embeddings of prompt batches this rank has already encoded, kept
 * within a byte budget. It is this model's `kv_cache` pool.
 *
 * In a transformer the KV cache holds keys and values derived from context the model has seen;
 * here the context is the prompt, and what the denoiser consumes at every step is its embedding,
 * so that is what is cached (a serving engine with many requests per prompt, or a fixed negative
 * prompt, skips the text encoder). Like a KV cache it is a pool the rank reserves at load
 * (`capacityBytes` counts as used device memory while the rank is awake), a sleep releases it
 * (its entries are dropped: they are recomputed on demand, never restored), and a wake must name
 * it. A model configured without it (`capacityBytes` 0) has no `kv_cache` pool at all.
 *
 * A hit answers exactly what encoding would: entries are keyed by the whole token batch, so the
 * same tokens in the same batch layout, on the same session, give the same bits either way.
 * Eviction is least-recently-used.
 */
import { assert } from "../../core/assert.ts"
import type { Pipeline } from "./pipeline.ts"

export interface TextCache {
  readonly capacityBytes: number
  /** Insertion order is recency order: the first entry is the least recently used. */
  readonly entries: Map<string, Float32Array>
  heldBytes: number
}

export const makeTextCache = (capacityBytes: number): TextCache => {
  assert(Number.isFinite(capacityBytes) && capacityBytes > 0, "a conditioning cache has a positive budget")
  return { capacityBytes, entries: new Map(), heldBytes: 0 }
}

/** Drops every entry (sleep, shutdown). */
export const clearTextCache = (cache: TextCache): void => {
  cache.entries.clear()
  cache.heldBytes = 0
}

const keyOf = (tokens: BigInt64Array, batch: number): string => `${batch}:${tokens.join(",")}`

const remember = (cache: TextCache, key: string, embedded: Float32Array): void => {
  if (embedded.byteLength > cache.capacityBytes) return
  while (cache.heldBytes + embedded.byteLength > cache.capacityBytes) {
    const [oldestKey, oldest] = cache.entries.entries().next().value as [string, Float32Array]
    cache.entries.delete(oldestKey)
    cache.heldBytes -= oldest.byteLength
  }
  cache.entries.set(key, embedded)
  cache.heldBytes += embedded.byteLength
  assert(cache.heldBytes <= cache.capacityBytes, "the cache stays within its budget")
}

/** `pipeline` with text encoding served from `cache` when the same token batch was encoded before. */
export const withTextCache = (pipeline: Pipeline, cache: TextCache): Pipeline => ({
  ...pipeline,
  encodeText: async (tokens, batch) => {
    const key = keyOf(tokens, batch)
    const hit = cache.entries.get(key)
    if (hit !== undefined) {
      cache.entries.delete(key)
      cache.entries.set(key, hit)
      return hit
    }
    const embedded = await pipeline.encodeText(tokens, batch)
    remember(cache, key, embedded)
    return embedded
  }
})

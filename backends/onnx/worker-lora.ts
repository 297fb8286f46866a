/**
 * The LoRA methods of the ONNX worker: add, remove, pin and list adapters on one rank.
 *
 * Kept apart from worker.ts because they touch only the adapter set (adapters.ts) and the
 * manifest's LoRA targets, never the sessions' lifecycle. A model built without a LoRA manager
 * (`lora: false`) answers `LoraUnsupported` to each of them, as the contract asks, and nothing
 * else changes.
 */
import { Effect } from "effect"
import { LoraInvalid, LoraNotFound, LoraUnsupported } from "../../core/errors.ts"
import type { LoraAdapter } from "../../core/worker.ts"
import { adapterReport, heldIds, releasePatched } from "./adapters.ts"
import { readLora } from "./lora-file.ts"
import { bindLora } from "./lora.ts"
import type { OnnxRank } from "./worker-state.ts"

const unsupported = (rank: OnnxRank, method: string): LoraUnsupported | undefined =>
  rank.options.lora === false ? new LoraUnsupported({ method }) : undefined

/**
 * Adds an adapter: a re-add of a held id succeeds unchanged (a retried add is harmless). The
 * adapter is read and bound now, so a bad file fails the add, not a later batch.
 */
export const addLora = (rank: OnnxRank, adapter: LoraAdapter) => Effect.gen(function* () {
  const refused = unsupported(rank, "addLora")
  if (refused) return yield* refused
  if (rank.adapters.held.has(adapter.id)) return adapterReport(rank.adapters, adapter.id)
  const manifest = rank.manifest
  if (manifest === undefined) return yield* new LoraInvalid({ adapterId: adapter.id, reason: "the model is not loaded, so the adapter cannot be bound" })
  const path = adapter.path ?? `${adapter.name}.rwlora`
  const weights = yield* readLora(path, { adapterDir: rank.options.adapterDir, adapterId: adapter.id })
  const boundLayers = yield* Effect.fromResult(bindLora(adapter.id, weights, manifest.loraTargets))
  rank.adapters.held.set(adapter.id, { adapter, weights, boundLayers, pinned: false })
  return adapterReport(rank.adapters, adapter.id)
})

export const removeLora = (rank: OnnxRank, adapterId: number) => Effect.gen(function* () {
  const refused = unsupported(rank, "removeLora")
  if (refused) return yield* refused
  if (!rank.adapters.held.has(adapterId)) return yield* new LoraNotFound({ adapterId })
  const report = adapterReport(rank.adapters, adapterId)
  if (rank.adapters.patched?.adapterId === adapterId) yield* releasePatched(rank.adapters)
  rank.adapters.held.delete(adapterId)
  return report
})

export const pinLora = (rank: OnnxRank, adapterId: number) => Effect.gen(function* () {
  const refused = unsupported(rank, "pinLora")
  if (refused) return yield* refused
  const held = rank.adapters.held.get(adapterId)
  if (held === undefined) return yield* new LoraNotFound({ adapterId })
  held.pinned = true
  return adapterReport(rank.adapters, adapterId)
})

export const listLoras = (rank: OnnxRank): Effect.Effect<ReadonlyArray<number>, LoraUnsupported> => Effect.suspend(() => {
  const refused = unsupported(rank, "listLoras")
  return refused ? Effect.fail(refused) : Effect.succeed(heldIds(rank.adapters))
})

/**
 * The simulated LoRA manager of one rank: which adapters it holds and which are pinned.
 *
 * It keeps the rules a real manager follows and that the control plane must cope with: adding an
 * adapter the rank already holds succeeds again (so a retried add is harmless), an adapter that
 * binds no layer or that the model cannot read is refused as `LoraInvalid` (upstream "loaded"
 * such adapters and they changed nothing), and removing or pinning an unknown adapter answers
 * `LoraNotFound`. Memory for the adapter is checked by the worker, which owns the device.
 */
import { Result } from "effect"
import { assert } from "../../core/assert.ts"
import { LoraInvalid, LoraNotFound } from "../../core/errors.ts"
import type { LoraAdapter, LoraReport } from "../../core/worker.ts"
import type { ResolvedSimModelConfig } from "./config.ts"

export interface LoraManager {
  readonly has: (adapterId: number) => boolean
  /** Adds a checked adapter the rank does not hold yet. */
  readonly add: (adapter: LoraAdapter) => LoraReport
  /** A report for an adapter the rank holds (an idempotent re-add answers it). */
  readonly report: (adapterId: number) => LoraReport
  readonly remove: (adapterId: number) => Result.Result<LoraReport, LoraNotFound>
  readonly pin: (adapterId: number) => Result.Result<LoraReport, LoraNotFound>
  /** Held adapter ids, ascending. */
  readonly ids: () => ReadonlyArray<number>
  /** Pinned adapter ids, ascending. */
  readonly pinnedIds: () => ReadonlyArray<number>
}

/** Why the model refuses `adapter`, or undefined when it is valid. */
export const invalidAdapter = (config: ResolvedSimModelConfig, adapter: LoraAdapter): LoraInvalid | undefined => {
  if (adapter.name.length === 0) return new LoraInvalid({ adapterId: adapter.id, reason: "the adapter has an empty name" })
  if (config.invalidAdapterIds.has(adapter.id)) {
    return new LoraInvalid({ adapterId: adapter.id, reason: "the adapter binds no layer of this model" })
  }
  return undefined
}

const ascending = (ids: Iterable<number>): ReadonlyArray<number> => [...ids].sort((a, b) => a - b)

export const makeLoraManager = (config: ResolvedSimModelConfig): LoraManager => {
  const held = new Set<number>()
  const pinned = new Set<number>()
  const report = (adapterId: number): LoraReport => {
    assert(held.has(adapterId), "a LoRA report names an adapter the rank holds")
    return { adapterId, boundLayers: config.loraBoundLayers }
  }
  const add = (adapter: LoraAdapter): LoraReport => {
    assert(!held.has(adapter.id), "add takes an adapter the rank does not hold yet")
    held.add(adapter.id)
    return report(adapter.id)
  }
  // Removing a pinned adapter unpins it: a pin protects from eviction, not from an explicit remove.
  const remove = (adapterId: number): Result.Result<LoraReport, LoraNotFound> => {
    if (!held.has(adapterId)) return Result.fail(new LoraNotFound({ adapterId }))
    const removed = report(adapterId)
    held.delete(adapterId)
    pinned.delete(adapterId)
    return Result.succeed(removed)
  }
  const pin = (adapterId: number): Result.Result<LoraReport, LoraNotFound> => {
    if (!held.has(adapterId)) return Result.fail(new LoraNotFound({ adapterId }))
    pinned.add(adapterId)
    return Result.succeed(report(adapterId))
  }
  return {
    has: (adapterId) => held.has(adapterId),
    add,
    report,
    remove,
    pin,
    ids: () => ascending(held),
    pinnedIds: () => ascending(pinned)
  }
}

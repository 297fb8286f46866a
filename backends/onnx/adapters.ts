/**
 * The adapters one rank holds, and the denoiser session patched with the one in use.
 *
 * Requests choose their adapter (core/request.ts `lora`), so the base sessions stay as they are
 * and one extra denoiser session carries the patched weights of the adapter and scale the last
 * batch asked for. Switching adapter or scale rebuilds that session from the base weights
 * (lora.ts `patchWeights`), so no sequence of adapters can drift the base model. Only the
 * denoiser is patched: it is the only graph adapters target (weights.ts `loraTargets`).
 */
import { Effect } from "effect"
import { assert } from "../../core/assert.ts"
import type { LoraAdapter, LoraReport } from "../../core/worker.ts"
import { buildDenoiser } from "./denoiser.ts"
import { type LoraWeights, patchWeights } from "./lora.ts"
import { openSession, releaseSession, type Session, type SessionFailed } from "./sessions.ts"
import type { ModelConfig, WeightSet } from "./weights.ts"

export interface HeldAdapter {
  readonly adapter: LoraAdapter
  readonly weights: LoraWeights
  readonly boundLayers: number
  pinned: boolean
}

/** The denoiser session of one adapter at one scale. */
export interface PatchedDenoiser {
  readonly adapterId: number
  readonly scale: number
  readonly session: Session
  /** Bytes of the denoiser's weights inside the session. */
  readonly bytes: number
}

export interface AdapterSet {
  readonly held: Map<number, HeldAdapter>
  patched: PatchedDenoiser | undefined
}

export const makeAdapterSet = (): AdapterSet => ({ held: new Map(), patched: undefined })

export const adapterReport = (adapters: AdapterSet, adapterId: number): LoraReport => {
  const held = adapters.held.get(adapterId)
  assert(held !== undefined, "a LoRA report names an adapter the rank holds")
  return { adapterId, boundLayers: held.boundLayers }
}

export const heldIds = (adapters: AdapterSet): ReadonlyArray<number> => [...adapters.held.keys()].sort((a, b) => a - b)
export const pinnedIds = (adapters: AdapterSet): ReadonlyArray<number> =>
  [...adapters.held.values()].filter((held) => held.pinned).map((held) => held.adapter.id).sort((a, b) => a - b)

/** Releases the patched session, if any (sleep, shutdown, removing its adapter, switching). */
export const releasePatched = (adapters: AdapterSet): Effect.Effect<void> => Effect.suspend(() => {
  const patched = adapters.patched
  adapters.patched = undefined
  return patched === undefined ? Effect.void : releaseSession(patched.session)
})

const denoiserBytes = (weights: WeightSet): number =>
  [...weights.entries()].filter(([name]) => name.startsWith("denoiser.")).reduce((total, [, tensor]) => total + tensor.data.byteLength, 0)

/**
 * The denoiser session for `adapterId` at `scale`: the current one when it matches, else a new
 * one built from the base weights patched by that adapter (the old one is released first, so
 * at most one patched copy is ever held).
 */
export const patchedDenoiser = (
  adapters: AdapterSet,
  base: { readonly config: ModelConfig; readonly weights: WeightSet },
  provider: string,
  adapterId: number,
  scale: number
): Effect.Effect<Session, SessionFailed> => Effect.gen(function* () {
  const current = adapters.patched
  if (current !== undefined && current.adapterId === adapterId && current.scale === scale) return current.session
  const held = adapters.held.get(adapterId)
  assert(held !== undefined, "a patched denoiser is built for an adapter the rank holds")
  yield* releasePatched(adapters)
  const weights = patchWeights(base.weights, held.weights, scale)
  const session = yield* openSession(buildDenoiser(base.config, weights), provider)
  adapters.patched = { adapterId, scale, session, bytes: denoiserBytes(weights) }
  return session
})

/**
 * The state of one ONNX rank, and the read-only views of it: ground truth and memory use.
 *
 * Kept apart from worker.ts so the method bodies there read as control flow, and so what a rank
 * holds in each state is listed in one place:
 *
 *   unloaded:        no manifest, no model, no sessions
 *   awake:           manifest, model (host copy of weights and graph bytes), sessions
 *   asleep, level 1: manifest, model; sessions released
 *   asleep, level 2: manifest only; a wake reads the files again
 *   shut down:       manifest kept for reports; nothing else, and every call is refused
 *
 * Adapters survive sleep (their weights are host data); only their patched session is released.
 * The conditioning cache (text-cache.ts, the `kv_cache` pool) is emptied by a sleep.
 */
import { OutOfMemory } from "../../core/errors.ts"
import type { MemoryTag, SleepLevel } from "../../core/worker.ts"
import { type AdapterSet, heldIds, pinnedIds } from "./adapters.ts"
import type { CfgRole } from "./cfg-parallel.ts"
import type { LoadedModel, ModelManifest } from "./model.ts"
import type { SamplingTimings } from "./sampler.ts"
import type { ModelSessions, ProviderReport } from "./sessions.ts"
import type { TextCache } from "./text-cache.ts"

export interface OnnxWorkerOptions {
  readonly rank: number
  readonly worldSize: number
  readonly outputRank: number
  /** A directory written by `saveModel`. */
  readonly modelDir: string
  /** Adapters are read only from inside this directory. */
  readonly adapterDir: string
  /** Execution providers, tried in order (default `["cuda", "cpu"]`). */
  readonly providers?: ReadonlyArray<string> | undefined
  /** A device budget: loads, wakes and batches that would exceed it answer `OutOfMemory`. */
  readonly memory?: { readonly deviceBytes: number } | undefined
  /** False: the model has no LoRA manager, and every LoRA method answers `LoraUnsupported`. */
  readonly lora?: boolean | undefined
  /** Budget of the conditioning cache, the `kv_cache` pool (text-cache.ts); absent or 0: none. */
  readonly kvCacheBytes?: number | undefined
  /** This rank's half of a CFG split (cfg-parallel.ts); guided batches then exchange with the peer. */
  readonly cfg?: CfgRole | undefined
}

/** Process RSS around the last sleep, with what the sleep reported freeing. */
export interface SleepMeasurement {
  readonly level: SleepLevel
  readonly freedBytes: number
  readonly rssBeforeBytes: number
  readonly rssAfterBytes: number
}

export interface OnnxWorkerTruth {
  readonly rank: number
  readonly loaded: boolean
  readonly asleep: boolean
  readonly sleepLevel: SleepLevel | null
  readonly shutDown: boolean
  readonly loras: ReadonlyArray<number>
  readonly pinned: ReadonlyArray<number>
  /** Which execution provider the sessions run on, and why earlier ones were passed over. */
  readonly provider: ProviderReport | null
  /** Bytes of weights inside open sessions (base and patched). */
  readonly usedBytes: number
  /** Bytes of weights kept in host memory (zero after a level-2 sleep). */
  readonly hostWeightsBytes: number
  readonly lastSleep: SleepMeasurement | null
  readonly lastTimings: SamplingTimings | null
}

export interface OnnxRank {
  readonly options: OnnxWorkerOptions & { readonly providers: ReadonlyArray<string> }
  manifest: ModelManifest | undefined
  model: LoadedModel | undefined
  sessions: ModelSessions | undefined
  /** Found at load and kept: wakes and rebuilds reuse this provider. */
  provider: ProviderReport | undefined
  /** The `kv_cache` pool, when the model has one. */
  readonly textCache: TextCache | undefined
  sleepLevel: SleepLevel | null
  readonly adapters: AdapterSet
  /** Why `checkHealth` fails, if it does; see worker.ts `tracked` for what clears it. */
  unhealthy: { readonly kind: "outOfMemory" | "wakeFailed"; readonly reason: string } | null
  lastSleep: SleepMeasurement | null
  lastTimings: SamplingTimings | null
  shutDown: boolean
}

/** The pools a sleep takes away and a wake must name. */
export const sleepingPools = (rank: OnnxRank): ReadonlyArray<MemoryTag> => rank.textCache === undefined ? ["weights"] : ["weights", "kv_cache"]

/** Bytes of the pools an awake rank reserves: its weights and the conditioning cache's budget. */
export const poolBytes = (rank: OnnxRank): number => (rank.manifest?.weightsBytes ?? 0) + (rank.textCache?.capacityBytes ?? 0)

/** Bytes of the pools inside open sessions and the patched denoiser: what a sleep frees and the device budget counts. */
export const usedBytes = (rank: OnnxRank): number =>
  (rank.sessions !== undefined && rank.manifest !== undefined ? poolBytes(rank) : 0) + (rank.adapters.patched?.bytes ?? 0)

/** An `OutOfMemory` when `requestedBytes` more would exceed the device budget, else undefined. */
export const outOfMemory = (rank: OnnxRank, requestedBytes: number): OutOfMemory | undefined => {
  const deviceBytes = rank.options.memory?.deviceBytes
  if (deviceBytes === undefined) return undefined
  const availableBytes = Math.max(0, deviceBytes - usedBytes(rank))
  return requestedBytes > availableBytes ? new OutOfMemory({ requestedBytes, availableBytes }) : undefined
}

export const truth = (rank: OnnxRank): OnnxWorkerTruth => ({
  rank: rank.options.rank,
  loaded: rank.manifest !== undefined && !rank.shutDown,
  asleep: rank.sleepLevel !== null,
  sleepLevel: rank.sleepLevel,
  shutDown: rank.shutDown,
  loras: heldIds(rank.adapters),
  pinned: pinnedIds(rank.adapters),
  provider: rank.provider ?? null,
  usedBytes: usedBytes(rank),
  hostWeightsBytes: rank.model?.manifest.weightsBytes ?? 0,
  lastSleep: rank.lastSleep,
  lastTimings: rank.lastTimings
})

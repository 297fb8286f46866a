/**
 * The configuration of the simulated model: how big its device is, what it holds, and how it
 * fails. Every field is optional; `resolveSimModelConfig` fills the defaults once, so the rest of
 * the simulated worker reads plain numbers.
 *
 * Sizes are bytes. The defaults describe a mid-size diffusion model on a 16 GiB device: 4 GiB of
 * weights, no KV cache (diffusion transformers usually have none), 64 MiB per LoRA adapter.
 */
import { assert } from "../../core/assert.ts"

const gibibyte = 1024 ** 3
const mebibyte = 1024 ** 2

export interface SimModelConfig {
  /** Device memory capacity. */
  readonly deviceBytes?: number | undefined
  readonly weightsBytes?: number | undefined
  /** A second memory pool, tagged `kv_cache`; 0 means the model has none. */
  readonly kvCacheBytes?: number | undefined
  /** Device bytes one loaded LoRA adapter takes. */
  readonly loraBytes?: number | undefined
  /** Whether the model has a LoRA manager; without one every LoRA method answers LoraUnsupported. */
  readonly lora?: boolean | undefined
  /** Adapter ids this model refuses as invalid (for example an adapter that binds no layer). */
  readonly invalidAdapterIds?: ReadonlyArray<number> | undefined
  /** Layers a valid adapter binds; a LoRA report always shows more than zero. */
  readonly loraBoundLayers?: number | undefined
  /** Activation bytes per pixel, frame, output and request that one `execute` allocates. */
  readonly activationBytesPerPixel?: number | undefined
  /** Virtual milliseconds one denoising step takes. */
  readonly stepMs?: number | undefined
  /** The device name health reports carry, suffixed with the rank. */
  readonly deviceName?: string | undefined
}

export interface ResolvedSimModelConfig {
  readonly deviceBytes: number
  readonly weightsBytes: number
  readonly kvCacheBytes: number
  readonly loraBytes: number
  readonly lora: boolean
  readonly invalidAdapterIds: ReadonlySet<number>
  readonly loraBoundLayers: number
  readonly activationBytesPerPixel: number
  readonly stepMs: number
  readonly deviceName: string
}

export const simModelDefaults = {
  deviceBytes: 16 * gibibyte,
  weightsBytes: 4 * gibibyte,
  kvCacheBytes: 0,
  loraBytes: 64 * mebibyte,
  lora: true,
  loraBoundLayers: 16,
  activationBytesPerPixel: 64,
  stepMs: 1,
  deviceName: "simgpu"
} as const

const nonNegative = (value: number, name: string): number => {
  assert(Number.isFinite(value) && value >= 0, `${name} is a finite number of at least 0`)
  return value
}

/** Fills the defaults and checks that every size and duration is a sensible number. */
export const resolveSimModelConfig = (config: SimModelConfig): ResolvedSimModelConfig => {
  const loraBoundLayers = config.loraBoundLayers ?? simModelDefaults.loraBoundLayers
  assert(Number.isInteger(loraBoundLayers) && loraBoundLayers > 0, "a valid adapter binds at least one layer")
  return {
    deviceBytes: nonNegative(config.deviceBytes ?? simModelDefaults.deviceBytes, "deviceBytes"),
    weightsBytes: nonNegative(config.weightsBytes ?? simModelDefaults.weightsBytes, "weightsBytes"),
    kvCacheBytes: nonNegative(config.kvCacheBytes ?? simModelDefaults.kvCacheBytes, "kvCacheBytes"),
    loraBytes: nonNegative(config.loraBytes ?? simModelDefaults.loraBytes, "loraBytes"),
    lora: config.lora ?? simModelDefaults.lora,
    invalidAdapterIds: new Set(config.invalidAdapterIds ?? []),
    loraBoundLayers,
    activationBytesPerPixel: nonNegative(config.activationBytesPerPixel ?? simModelDefaults.activationBytesPerPixel, "activationBytesPerPixel"),
    stepMs: nonNegative(config.stepMs ?? simModelDefaults.stepMs, "stepMs"),
    deviceName: config.deviceName ?? simModelDefaults.deviceName
  }
}

/**
 * The `onnx` backend for drivers: rank processes hosting the ONNX Runtime worker, with the
 * unmodified core executor and engine over them, on the wall clock.
 *
 * It is the process harness (harness.ts) with `workerKind: "onnx"`, plus what such ranks need
 * first: a model directory and adapter directory (built once into a cache, onnx-assets.ts, unless
 * the caller names its own), a private folder for the CFG socket between ranks 0 and 1, and the
 * launch that lets a bundled rank load onnxruntime-node (onnx-launch.ts). Faults are the process
 * backend's, produced for real inside the ranks. Use `onnxHarnessFactory` for the conformance
 * suites and the CLI's `--backend onnx`; `makeOnnxHarnessFactory` to point it at your own model,
 * adapters, providers or CFG bounds.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { HarnessOptions, ModelOptions } from "../harness.ts"
import type { ModelOptions as OnnxModelOptions } from "../onnx/weights.ts"
import { processFaultKinds } from "./faults.ts"
import { type ProcessClusterHarness, type ProcessHarnessFactory, startProcessHarness } from "./harness.ts"
import { prepareOnnxAssets } from "./onnx-assets.ts"
import { resolveOnnxLaunch } from "./onnx-launch.ts"
import type { OnnxRankSettings, RankModelOptions } from "./rank-config.ts"

export interface OnnxHarnessConfig {
  /** The model to build into the cache when `modelDir` is absent (default seed 1, default shape). */
  readonly model?: OnnxModelOptions | undefined
  /** A model directory written by `saveModel`; the cached model when absent. */
  readonly modelDir?: string | undefined
  /** Where ranks read adapters; the cached `adapter-1..64` folder when absent. */
  readonly adapterDir?: string | undefined
  /** Execution providers, tried in order (default `["cuda", "cpu"]`). */
  readonly providers?: ReadonlyArray<string> | undefined
  /** False: no CFG split; every rank computes both branches of a guided batch. Default true. */
  readonly cfgParallel?: boolean | undefined
  /** Bound on waiting for the peer's branch at one step (default 10 s). */
  readonly exchangeTimeoutMs?: number | undefined
  /** Bound on rank 1 reaching rank 0's CFG socket during load (default 10 s). */
  readonly connectTimeoutMs?: number | undefined
  readonly readyTimeoutMs?: number | undefined
  /** Where the model cache lives (default `<tmp>/rankwise-models`). */
  readonly cacheRoot?: string | undefined
}

export const onnxHarnessDefaults = {
  exchangeTimeoutMs: 10_000,
  connectTimeoutMs: 10_000
} as const

/** A harness over `onnx` rank processes; `settings` is what every rank was configured with. */
export interface OnnxClusterHarness extends ProcessClusterHarness {
  readonly settings: OnnxRankSettings
}

/** Starts `onnx` rank processes and an engine over them; rejects with `HarnessStartError`. */
export const startOnnxHarness = async (options: HarnessOptions, config: OnnxHarnessConfig = {}): Promise<OnnxClusterHarness> => {
  const cached = config.modelDir !== undefined && config.adapterDir !== undefined
    ? undefined
    : await prepareOnnxAssets({ model: config.model, root: config.cacheRoot })
  const launch = await resolveOnnxLaunch()
  // One private folder per cluster: two clusters never share a socket, and it goes with the cluster.
  const socketFolder = await mkdtemp(join(tmpdir(), "rankwise-cfg-"))
  const settings: OnnxRankSettings = {
    modelDir: config.modelDir ?? cached!.modelDir,
    adapterDir: config.adapterDir ?? cached!.adapterDir,
    providers: config.providers,
    cfg: config.cfgParallel === false || options.ranks < 2 ? undefined : {
      socketPath: join(socketFolder, "cfg.sock"),
      exchangeTimeoutMs: config.exchangeTimeoutMs ?? onnxHarnessDefaults.exchangeTimeoutMs,
      connectTimeoutMs: config.connectTimeoutMs ?? onnxHarnessDefaults.connectTimeoutMs
    }
  }
  const model: RankModelOptions = { ...options.model, onnx: settings }
  const harness = await startProcessHarness({ ...options, model }, {
    workerKind: "onnx", launch: launch.launch, entry: launch.entry, readyTimeoutMs: config.readyTimeoutMs
  }).catch(async (error: unknown) => {
    await rm(socketFolder, { recursive: true, force: true })
    throw error
  })
  let disposed: Promise<void> | undefined
  const dispose = async () => {
    await harness.dispose()
    await rm(socketFolder, { recursive: true, force: true })
  }
  return { ...harness, backend: "onnx", settings, dispose: () => (disposed ??= dispose()) }
}

/** A harness factory whose clusters are `onnx` rank processes. */
export interface OnnxHarnessFactory extends ProcessHarnessFactory {
  readonly start: (options: HarnessOptions) => Promise<OnnxClusterHarness>
}

/**
 * The model options an `onnx` rank honors (onnx-worker-kind.ts); the simulated model's sizes,
 * step time and refused adapter ids describe a model that does not exist here.
 */
export const onnxModelOptions: ReadonlyArray<keyof ModelOptions> = ["lora", "kvCacheBytes", "deviceBytes"]

/** The `onnx` backend with the given model, adapters and bounds. */
export const makeOnnxHarnessFactory = (config: OnnxHarnessConfig = {}): OnnxHarnessFactory => ({
  name: "onnx",
  virtualTime: false,
  faultKinds: processFaultKinds,
  modelOptions: onnxModelOptions,
  start: (options) => startOnnxHarness(options, config)
})

/** ONNX Runtime ranks as a backend for drivers: the cached model, its adapters, CFG split on. */
export const onnxHarnessFactory: OnnxHarnessFactory = makeOnnxHarnessFactory()

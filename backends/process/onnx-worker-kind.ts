/**
 * The `onnx` worker kind: a rank process hosting the ONNX Runtime worker (backends/onnx).
 *
 * The worker reads its model directory and adapter directory from the rank configuration
 * (`model.onnx`), and takes from the common model knobs the ones that mean something to it:
 * `lora: false` (no LoRA manager), `kvCacheBytes` (the conditioning cache, its `kv_cache` pool)
 * and `deviceBytes` (a device budget). The simulated model's other knobs (weight sizes, step
 * time, adapters refused by id) describe a model that does not exist here and are ignored.
 *
 * CFG split: when the configuration carries `cfg` and the world has two ranks or more, rank 0
 * predicts the conditional branch and rank 1 the unconditional one, over a Unix socket between
 * them (cfg-socket.ts). Rank 0 starts listening as the process starts, before it says `ready`;
 * rank 1 dials during `load`, so a cluster whose ranks cannot reach each other fails its start
 * with a `ModelLoadError` that says so, rather than its first guided request.
 */
import { Effect } from "effect"
import { assert } from "../../core/assert.ts"
import { ModelLoadError } from "../../core/errors.ts"
import type { CfgRole } from "../onnx/cfg-parallel.ts"
import { makeOnnxWorker } from "../onnx/worker.ts"
import { type CfgSocketChannel, connectCfgChannel, listenCfgChannel } from "./cfg-socket.ts"
import type { OnnxRankSettings, RankConfig } from "./rank-config.ts"
import type { HostedWorker } from "./worker-kinds.ts"

/** The CFG channel end and role of this rank, or undefined when it takes no part in a split. */
const cfgEnd = (config: RankConfig, settings: OnnxRankSettings): { readonly channel: CfgSocketChannel; readonly role: CfgRole } | undefined => {
  const cfg = settings.cfg
  if (cfg === undefined || config.worldSize < 2 || config.rank > 1) return undefined
  const peerRank = 1 - config.rank
  const options = { socketPath: cfg.socketPath, peerRank, exchangeTimeoutMs: cfg.exchangeTimeoutMs }
  const channel = config.rank === 0 ? listenCfgChannel(options) : connectCfgChannel(options)
  return { channel, role: { branch: config.rank === 0 ? "cond" : "uncond", peerRank, channel } }
}

/** Builds the hosted ONNX worker of one rank process. */
export const makeOnnxHostedWorker = (config: RankConfig): HostedWorker => {
  const settings = config.model.onnx
  assert(settings !== undefined, "an onnx rank's configuration names its model (decodeRankConfig checks it)")
  const cfg = cfgEnd(config, settings)
  const worker = makeOnnxWorker({
    rank: config.rank,
    worldSize: config.worldSize,
    outputRank: config.outputRank,
    modelDir: settings.modelDir,
    adapterDir: settings.adapterDir,
    providers: settings.providers,
    memory: config.model.deviceBytes === undefined ? undefined : { deviceBytes: config.model.deviceBytes },
    lora: config.model.lora,
    kvCacheBytes: config.model.kvCacheBytes,
    cfg: cfg?.role
  })
  const channelReady = cfg === undefined || settings.cfg === undefined
    ? Effect.void
    : Effect.tryPromise({
      try: () => cfg.channel.ready(settings.cfg!.connectTimeoutMs),
      catch: (error) => new ModelLoadError({ reason: (error as Error).message })
    })
  return {
    worker: {
      ...worker,
      load: () => Effect.andThen(channelReady, worker.load()),
      shutdown: () => Effect.ensuring(worker.shutdown(), Effect.sync(() => cfg?.channel.close()))
    },
    state: () => {
      const truth = worker.truth()
      return { loaded: truth.loaded, asleep: truth.asleep, sleepLevel: truth.sleepLevel, loras: truth.loras, usedBytes: truth.usedBytes }
    },
    wakeUpOutOfMemory: worker.wakeUpOutOfMemory
  }
}

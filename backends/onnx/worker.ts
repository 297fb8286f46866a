/**
 * The ONNX Runtime worker: one rank of a real (small) latent-diffusion model.
 *
 * It implements the Worker contract (core/worker.ts) on the model this folder builds: `load`
 * reads the model directory and opens sessions on the first execution provider that works;
 * `execute` samples a batch (sampler.ts) and the output rank answers the images; `sleep` releases
 * the sessions (level 1 keeps the weights in host memory, level 2 drops them and a wake reads the
 * files again, refusing files that changed meanwhile); LoRA methods read adapter files from the
 * adapter directory and patch a copy of the denoiser's weights (adapters.ts). Every rank computes
 * the whole batch, as ranks of a parallel model each do their part of every step; only the
 * output rank's reply carries the images.
 *
 * Calls run one at a time (a one-permit semaphore), because ONNX Runtime's `run` is asynchronous
 * and a `sleep` arriving mid-`execute` must not release a session under a running step. A rank
 * host serves calls in order anyway; the semaphore keeps in-process callers equally safe.
 *
 * CFG-parallel: a rank given a `cfg` role (cfg-parallel.ts) runs guided batches as one half of a
 * split, exchanging each step's branch with its peer (the half that is not the output rank skips
 * the decode); unguided batches, and ranks without a role, compute the whole job. Its failures
 * (peer gone, peer stalled, peer gave up) are `ModelError`s that name the peer rank, bounded by
 * the channel's timeout.
 *
 * Host memory: `truth().lastSleep` records process RSS before and after each sleep. It is a
 * measurement, not a promise: the allocator may keep freed pages, and dropped weights leave RSS
 * only after a garbage collection.
 */
import { memoryUsage } from "node:process"
import { Effect, Semaphore } from "effect"
import { assert } from "../../core/assert.ts"
import {
  AlreadyAsleep, IncompleteWake, ModelError, ModelLoadError, NotAsleep, OutOfMemory, Unhealthy, WorkerAsleep
} from "../../core/errors.ts"
import type { Batch, Health, MemoryTag, SleepLevel, WorkerShape } from "../../core/worker.ts"
import { heldIds, makeAdapterSet, patchedDenoiser, releasePatched } from "./adapters.ts"
import { activationBytes, imageOutput, planBatch } from "./batch-plan.ts"
import { runSamplingCfgParallel } from "./cfg-parallel.ts"
import { loadModel } from "./model.ts"
import type { Pipeline } from "./pipeline.ts"
import { runSampling } from "./sampler.ts"
import { defaultProviders, makeSessionPipeline, openSessions, releaseSessions } from "./sessions.ts"
import { clearTextCache, makeTextCache, withTextCache } from "./text-cache.ts"
import { addLora, listLoras, pinLora, removeLora } from "./worker-lora.ts"
import {
  type OnnxRank, type OnnxWorkerOptions, type OnnxWorkerTruth, outOfMemory, poolBytes, sleepingPools, truth, usedBytes
} from "./worker-state.ts"

export type { OnnxWorkerOptions, OnnxWorkerTruth } from "./worker-state.ts"

/** A Worker plus a read-only view of its state, for tests, reports and health pages. */
export interface OnnxWorker extends WorkerShape {
  readonly truth: () => OnnxWorkerTruth
  /** Answers a wake with OutOfMemory and changes nothing but health: the `oomOnWake` fault. */
  readonly wakeUpOutOfMemory: () => Effect.Effect<never, OutOfMemory>
}

/** Builds one rank. It starts unloaded; `load()` reads the model, as the executor's start-up does. */
export const makeOnnxWorker = (options: OnnxWorkerOptions): OnnxWorker => {
  assert(Number.isInteger(options.worldSize) && options.worldSize >= 1, "the world has at least one rank")
  assert(Number.isInteger(options.rank) && options.rank >= 0 && options.rank < options.worldSize, "the rank lies within the world")
  assert(options.outputRank >= 0 && options.outputRank < options.worldSize, "the output rank lies within the world")
  const rank: OnnxRank = {
    options: { ...options, providers: options.providers ?? defaultProviders },
    manifest: undefined, model: undefined, sessions: undefined, provider: undefined, sleepLevel: null,
    textCache: (options.kvCacheBytes ?? 0) > 0 ? makeTextCache(options.kvCacheBytes!) : undefined,
    adapters: makeAdapterSet(), unhealthy: null, lastSleep: null, lastTimings: null, shutDown: false
  }
  const serial = Semaphore.makeUnsafe(1)
  const one = <A, E>(effect: Effect.Effect<A, E>) => Semaphore.withPermit(serial)(tracked(rank, effect))
  return {
    load: () => one(load(rank)),
    execute: (batch) => one(execute(rank, batch)),
    sleep: (level) => one(sleep(rank, level)),
    wakeUp: (tags) => one(wakeUp(rank, tags)),
    addLora: (adapter) => one(addLora(rank, adapter)),
    removeLora: (adapterId) => one(removeLora(rank, adapterId)),
    pinLora: (adapterId) => one(pinLora(rank, adapterId)),
    listLoras: () => listLoras(rank),
    checkHealth: () => checkHealth(rank),
    shutdown: () => Semaphore.withPermit(serial)(shutdown(rank)),
    truth: () => truth(rank),
    wakeUpOutOfMemory: () => one(Effect.fail(new OutOfMemory({ requestedBytes: poolBytes(rank), availableBytes: 0 })))
  }
}

/**
 * An out-of-memory answer marks the rank unhealthy until its next success, as the simulator
 * does. A failed wake stays unhealthy until a wake succeeds: other calls do not repair it.
 */
const tracked = <A, E>(rank: OnnxRank, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  effect.pipe(
    Effect.tap(() => Effect.sync(() => {
      if (rank.unhealthy?.kind === "outOfMemory") rank.unhealthy = null
    })),
    Effect.tapError((error) => Effect.sync(() => {
      if (isOutOfMemory(error)) rank.unhealthy = { kind: "outOfMemory", reason: error.message }
    })))

const isOutOfMemory = (error: unknown): error is OutOfMemory =>
  typeof error === "object" && error !== null && (error as { readonly _tag?: unknown })._tag === "OutOfMemory"

const load = (rank: OnnxRank) => Effect.gen(function* () {
  if (rank.shutDown) return yield* new ModelLoadError({ reason: `rank ${rank.options.rank} is shut down` })
  // Loaded already (awake or asleep): a repeated load is a no-op, so a retried start-up is harmless.
  if (rank.manifest !== undefined) return { bytes: poolBytes(rank) }
  const model = yield* loadModel(rank.options.modelDir)
  const oom = outOfMemory(rank, model.manifest.weightsBytes + (rank.textCache?.capacityBytes ?? 0))
  if (oom) return yield* oom
  const sessions = yield* openSessions(model.graphs, rank.options.providers).pipe(
    Effect.mapError((error) => new ModelLoadError({ reason: error.message })))
  Object.assign(rank, { manifest: model.manifest, model, sessions, provider: sessions.report })
  return { bytes: poolBytes(rank) }
})

/** Why this rank cannot run a batch now, or undefined. */
const refusal = (rank: OnnxRank): ModelError | WorkerAsleep | undefined => {
  if (rank.shutDown) return new ModelError({ reason: `rank ${rank.options.rank} is shut down` })
  if (rank.sleepLevel !== null) return new WorkerAsleep({ level: rank.sleepLevel })
  if (rank.sessions === undefined) return new ModelError({ reason: `the model is not loaded on rank ${rank.options.rank}` })
  return undefined
}

/**
 * A rank of a CFG split that fails a guided batch (refused it, ran out of memory, failed mid-way)
 * tells its peer at once, so the peer does not wait out its exchange bound for a partner that
 * will never come.
 */
const execute = (rank: OnnxRank, batch: Batch) =>
  runBatch(rank, batch).pipe(Effect.tapError(() => Effect.sync(() => {
    if (rank.options.cfg !== undefined && isGuided(batch)) rank.options.cfg.channel.abandon(batch.batchId)
  })))

const isGuided = (batch: Batch): boolean =>
  batch.requests.some((request) => request.negativePrompt !== undefined && request.guidanceScale > 1)

const runBatch = (rank: OnnxRank, batch: Batch) => Effect.gen(function* () {
  const refused = refusal(rank)
  if (refused) return yield* refused
  const { sessions, model, provider } = rank
  assert(sessions !== undefined && model !== undefined && provider !== undefined, "an awake, loaded rank holds its model and sessions")
  const plan = yield* Effect.fromResult(planBatch(batch, model.config))
  const oom = outOfMemory(rank, activationBytes(plan, model.config))
  if (oom) return yield* oom
  if (plan.lora !== undefined && !rank.adapters.held.has(plan.lora.id)) {
    return yield* new ModelError({ reason: `adapter ${plan.lora.id} (${plan.lora.name}) is not loaded on rank ${rank.options.rank}` })
  }
  const denoiser = plan.lora === undefined
    ? sessions.denoiser
    : yield* patchedDenoiser(rank.adapters, model, provider.provider, plan.lora.id, plan.lora.scale).pipe(
      Effect.mapError((error) => new ModelError({ reason: error.message })))
  const sessionPipeline = makeSessionPipeline({ ...sessions, denoiser }, model.config.tokenCount)
  const pipeline: Pipeline = rank.textCache === undefined ? sessionPipeline : withTextCache(sessionPipeline, rank.textCache)
  const cfg = plan.job.guidanceScale === null ? undefined : rank.options.cfg
  const result = yield* Effect.tryPromise({
    try: () => cfg === undefined
      ? runSampling(pipeline, model.config, plan.job)
      : runSamplingCfgParallel(pipeline, model.config, plan.job, cfg, batch.batchId, { decode: rank.options.rank === rank.options.outputRank }),
    catch: (error) => samplingError(batch.batchId, error)
  })
  rank.lastTimings = result.timings
  if (rank.options.rank !== rank.options.outputRank) return { _tag: "Ack" as const }
  return { _tag: "Output" as const, output: imageOutput(plan, result.images, { timings: result.timings, provider }) }
})

/** A failed exchange names the peer rank itself; anything else is prefixed with the batch. */
const samplingError = (batchId: number, error: unknown): ModelError => {
  if ((error as { readonly _tag?: unknown } | null)?._tag === "CfgExchangeFailed") return new ModelError({ reason: (error as Error).message })
  return new ModelError({ reason: `batch ${batchId}: ${error instanceof Error ? error.message : String(error)}` })
}

/** Releases every session this rank holds (base and patched). */
const releaseAll = (rank: OnnxRank) => Effect.gen(function* () {
  const sessions = rank.sessions
  rank.sessions = undefined
  if (sessions !== undefined) yield* releaseSessions(sessions)
  yield* releasePatched(rank.adapters)
  if (rank.textCache !== undefined) clearTextCache(rank.textCache)
})

const sleep = (rank: OnnxRank, level: SleepLevel) => Effect.gen(function* () {
  if (rank.manifest === undefined || rank.shutDown) return yield* new ModelError({ reason: `the model is not loaded on rank ${rank.options.rank}` })
  if (rank.sleepLevel !== null) return yield* new AlreadyAsleep({ level: rank.sleepLevel })
  const rssBeforeBytes = memoryUsage().rss
  const freedBytes = usedBytes(rank)
  yield* releaseAll(rank)
  if (level === 2) rank.model = undefined
  rank.sleepLevel = level
  rank.lastSleep = { level, freedBytes, rssBeforeBytes, rssAfterBytes: memoryUsage().rss }
  return { level, freedBytes }
})

/**
 * Wakes the rank: all or nothing. The contract gives `wakeUp` no load error, so a level-2 wake
 * that cannot read the model back (files gone, or changed since load, which would silently
 * change outputs) marks the rank unhealthy and dies: the rank cannot serve what it served.
 */
const wakeUp = (rank: OnnxRank, tags: ReadonlyArray<MemoryTag>) => Effect.gen(function* () {
  if (rank.sleepLevel === null || rank.manifest === undefined) return yield* new NotAsleep()
  const missingTags = sleepingPools(rank).filter((pool) => !tags.includes(pool))
  if (missingTags.length > 0) return yield* new IncompleteWake({ missingTags })
  const oom = outOfMemory(rank, poolBytes(rank))
  if (oom) return yield* oom
  const model = rank.model ?? (yield* reloadUnchanged(rank))
  assert(rank.provider !== undefined, "a loaded rank knows its provider")
  // The provider found at load, alone: another provider could compute different bits.
  const sessions = yield* openSessions(model.graphs, [rank.provider.provider]).pipe(Effect.orDie)
  Object.assign(rank, { model, sessions: { ...sessions, report: rank.provider }, sleepLevel: null, unhealthy: null })
  return { tags: sleepingPools(rank), restoredBytes: poolBytes(rank) }
}).pipe(Effect.tapDefect((defect) => Effect.sync(() => { rank.unhealthy = { kind: "wakeFailed", reason: `wake failed: ${String(defect)}` } })))

const reloadUnchanged = (rank: OnnxRank) => Effect.gen(function* () {
  const model = yield* loadModel(rank.options.modelDir).pipe(Effect.orDie)
  const before = JSON.stringify(rank.manifest?.files)
  if (JSON.stringify(model.manifest.files) !== before) return yield* Effect.die(new ModelLoadError({ reason: "the model files changed while the rank slept" }))
  return model
})

const checkHealth = (rank: OnnxRank): Effect.Effect<Health, Unhealthy> => Effect.suspend(() => {
  if (rank.shutDown) return Effect.fail(new Unhealthy({ reason: `rank ${rank.options.rank} is shut down` }))
  if (rank.unhealthy !== null) return Effect.fail(new Unhealthy({ reason: rank.unhealthy.reason }))
  return Effect.succeed({
    rank: rank.options.rank,
    asleep: rank.sleepLevel !== null,
    sleepLevel: rank.sleepLevel,
    loras: heldIds(rank.adapters),
    usedBytes: usedBytes(rank),
    device: `${rank.provider?.provider ?? "unloaded"}:${rank.options.rank}`
  })
})

/** Releases everything; idempotent. Later calls answer that the rank is shut down. */
const shutdown = (rank: OnnxRank) => Effect.gen(function* () {
  yield* releaseAll(rank)
  Object.assign(rank, { model: undefined, shutDown: true })
})

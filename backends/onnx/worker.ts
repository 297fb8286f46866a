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
 * Host memory: `truth().lastSleep` records process RSS before and after each sleep. It is a
 * measurement, not a promise: the allocator may keep freed pages, and dropped weights leave RSS
 * only after a garbage collection.
 */
import { memoryUsage } from "node:process"
import { Effect, Semaphore } from "effect"
import { assert } from "../../core/assert.ts"
import {
  AlreadyAsleep, IncompleteWake, LoraInvalid, LoraNotFound, ModelError, ModelLoadError, NotAsleep, OutOfMemory, Unhealthy,
  WorkerAsleep
} from "../../core/errors.ts"
import type { Batch, Health, LoraAdapter, MemoryTag, SleepLevel, WorkerShape } from "../../core/worker.ts"
import { adapterReport, heldIds, makeAdapterSet, patchedDenoiser, releasePatched } from "./adapters.ts"
import { activationBytes, imageOutput, planBatch } from "./batch-plan.ts"
import { readLora } from "./lora-file.ts"
import { bindLora } from "./lora.ts"
import { loadModel } from "./model.ts"
import { runSampling } from "./sampler.ts"
import { defaultProviders, makeSessionPipeline, openSessions, releaseSessions } from "./sessions.ts"
import { type OnnxRank, type OnnxWorkerOptions, type OnnxWorkerTruth, outOfMemory, truth, usedBytes } from "./worker-state.ts"

export type { OnnxWorkerOptions, OnnxWorkerTruth } from "./worker-state.ts"

/** A Worker plus a read-only view of its state, for tests, reports and health pages. */
export interface OnnxWorker extends WorkerShape {
  readonly truth: () => OnnxWorkerTruth
}

/** Builds one rank. It starts unloaded; `load()` reads the model, as the executor's start-up does. */
export const makeOnnxWorker = (options: OnnxWorkerOptions): OnnxWorker => {
  assert(Number.isInteger(options.worldSize) && options.worldSize >= 1, "the world has at least one rank")
  assert(Number.isInteger(options.rank) && options.rank >= 0 && options.rank < options.worldSize, "the rank lies within the world")
  assert(options.outputRank >= 0 && options.outputRank < options.worldSize, "the output rank lies within the world")
  const rank: OnnxRank = {
    options: { ...options, providers: options.providers ?? defaultProviders },
    manifest: undefined, model: undefined, sessions: undefined, provider: undefined, sleepLevel: null,
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
    listLoras: () => Effect.sync(() => heldIds(rank.adapters)),
    checkHealth: () => checkHealth(rank),
    shutdown: () => Semaphore.withPermit(serial)(shutdown(rank)),
    truth: () => truth(rank)
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
  if (rank.manifest !== undefined) return { bytes: rank.manifest.weightsBytes }
  const model = yield* loadModel(rank.options.modelDir)
  const oom = outOfMemory(rank, model.manifest.weightsBytes)
  if (oom) return yield* oom
  const sessions = yield* openSessions(model.graphs, rank.options.providers).pipe(
    Effect.mapError((error) => new ModelLoadError({ reason: error.message })))
  Object.assign(rank, { manifest: model.manifest, model, sessions, provider: sessions.report })
  return { bytes: model.manifest.weightsBytes }
})

/** Why this rank cannot run a batch now, or undefined. */
const refusal = (rank: OnnxRank): ModelError | WorkerAsleep | undefined => {
  if (rank.shutDown) return new ModelError({ reason: `rank ${rank.options.rank} is shut down` })
  if (rank.sleepLevel !== null) return new WorkerAsleep({ level: rank.sleepLevel })
  if (rank.sessions === undefined) return new ModelError({ reason: `the model is not loaded on rank ${rank.options.rank}` })
  return undefined
}

const execute = (rank: OnnxRank, batch: Batch) => Effect.gen(function* () {
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
  const pipeline = makeSessionPipeline({ ...sessions, denoiser }, model.config.tokenCount)
  const result = yield* Effect.tryPromise({
    try: () => runSampling(pipeline, model.config, plan.job),
    catch: (error) => new ModelError({ reason: `batch ${batch.batchId}: ${error instanceof Error ? error.message : String(error)}` })
  })
  rank.lastTimings = result.timings
  if (rank.options.rank !== rank.options.outputRank) return { _tag: "Ack" as const }
  return { _tag: "Output" as const, output: imageOutput(plan, result.images) }
})

/** Releases every session this rank holds (base and patched). */
const releaseAll = (rank: OnnxRank) => Effect.gen(function* () {
  const sessions = rank.sessions
  rank.sessions = undefined
  if (sessions !== undefined) yield* releaseSessions(sessions)
  yield* releasePatched(rank.adapters)
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

/** The pools a sleep takes away; a wake must name them all. This model has no KV cache. */
const sleepingPools: ReadonlyArray<MemoryTag> = ["weights"]

/**
 * Wakes the rank: all or nothing. The contract gives `wakeUp` no load error, so a level-2 wake
 * that cannot read the model back (files gone, or changed since load, which would silently
 * change outputs) marks the rank unhealthy and dies: the rank cannot serve what it served.
 */
const wakeUp = (rank: OnnxRank, tags: ReadonlyArray<MemoryTag>) => Effect.gen(function* () {
  if (rank.sleepLevel === null || rank.manifest === undefined) return yield* new NotAsleep()
  const missingTags = sleepingPools.filter((pool) => !tags.includes(pool))
  if (missingTags.length > 0) return yield* new IncompleteWake({ missingTags })
  const oom = outOfMemory(rank, rank.manifest.weightsBytes)
  if (oom) return yield* oom
  const model = rank.model ?? (yield* reloadUnchanged(rank))
  assert(rank.provider !== undefined, "a loaded rank knows its provider")
  // The provider found at load, alone: another provider could compute different bits.
  const sessions = yield* openSessions(model.graphs, [rank.provider.provider]).pipe(Effect.orDie)
  Object.assign(rank, { model, sessions: { ...sessions, report: rank.provider }, sleepLevel: null, unhealthy: null })
  return { tags: sleepingPools, restoredBytes: rank.manifest.weightsBytes }
}).pipe(Effect.tapDefect((defect) => Effect.sync(() => { rank.unhealthy = { kind: "wakeFailed", reason: `wake failed: ${String(defect)}` } })))

const reloadUnchanged = (rank: OnnxRank) => Effect.gen(function* () {
  const model = yield* loadModel(rank.options.modelDir).pipe(Effect.orDie)
  const before = JSON.stringify(rank.manifest?.files)
  if (JSON.stringify(model.manifest.files) !== before) return yield* Effect.die(new ModelLoadError({ reason: "the model files changed while the rank slept" }))
  return model
})

/**
 * Adds an adapter: a re-add of a held id succeeds unchanged (a retried add is harmless). The
 * adapter is read and bound now, so a bad file fails the add, not a later batch.
 */
const addLora = (rank: OnnxRank, adapter: LoraAdapter) => Effect.gen(function* () {
  if (rank.adapters.held.has(adapter.id)) return adapterReport(rank.adapters, adapter.id)
  const manifest = rank.manifest
  if (manifest === undefined) return yield* new LoraInvalid({ adapterId: adapter.id, reason: "the model is not loaded, so the adapter cannot be bound" })
  const path = adapter.path ?? `${adapter.name}.rwlora`
  const weights = yield* readLora(path, { adapterDir: rank.options.adapterDir, adapterId: adapter.id })
  const boundLayers = yield* Effect.fromResult(bindLora(adapter.id, weights, manifest.loraTargets))
  rank.adapters.held.set(adapter.id, { adapter, weights, boundLayers, pinned: false })
  return adapterReport(rank.adapters, adapter.id)
})

const removeLora = (rank: OnnxRank, adapterId: number) => Effect.gen(function* () {
  if (!rank.adapters.held.has(adapterId)) return yield* new LoraNotFound({ adapterId })
  const report = adapterReport(rank.adapters, adapterId)
  if (rank.adapters.patched?.adapterId === adapterId) yield* releasePatched(rank.adapters)
  rank.adapters.held.delete(adapterId)
  return report
})

const pinLora = (rank: OnnxRank, adapterId: number) => Effect.gen(function* () {
  const held = rank.adapters.held.get(adapterId)
  if (held === undefined) return yield* new LoraNotFound({ adapterId })
  held.pinned = true
  return adapterReport(rank.adapters, adapterId)
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

/**
 * The simulated model worker: one rank of a diffusion model, without a GPU.
 *
 * It implements the Worker contract (core/worker.ts) with the state a real rank has and the ways
 * it answers: device memory in bytes (memory.ts), a LoRA manager or none (lora.ts), sleep and
 * wake by memory pool, and a deterministic computation that takes virtual time (compute.ts), so
 * timeouts and aborts in tests mean something. Every failure is one of the contract's typed
 * errors; nothing throws, except an assertion that catches a bug in this simulation.
 *
 * The worker starts unloaded: `load()` puts the weights on the device, as the executor's start-up
 * does upstream. An `OutOfMemory` answer makes the rank unhealthy until its next successful
 * call, so an injected OOM shows in `checkHealth` (DOMAIN.md section 7).
 *
 * Calls reach one worker one at a time (its rank host serves a mailbox in order), so the state
 * below is plain mutable data.
 */
import { Duration, Effect } from "effect"
import { assert } from "../../core/assert.ts"
import {
  AlreadyAsleep, IncompleteWake, LoraInvalid, LoraUnsupported, ModelError, NotAsleep, OutOfMemory, Unhealthy,
  WorkerAsleep
} from "../../core/errors.ts"
import type {
  Batch, ExecuteReply, Health, LoraAdapter, LoraReport, MemoryTag, SleepLevel, WorkerShape
} from "../../core/worker.ts"
import { activationBytes, batchOutputTypes, batchSteps, computeItems, legacyOutput } from "./compute.ts"
import { resolveSimModelConfig, type ResolvedSimModelConfig, type SimModelConfig } from "./config.ts"
import { invalidAdapter, makeLoraManager, type LoraManager } from "./lora.ts"
import { missingWakeTags, overflow, poolBytes, sleepingPools, usedBytes } from "./memory.ts"

export type SimWorkerOptions = SimModelConfig & {
  readonly rank: number
  readonly worldSize: number
  readonly outputRank: number
}

/** Ground truth of one simulated rank, read directly (not through a call) by tests and reports. */
export interface SimWorkerTruth {
  readonly rank: number
  readonly loaded: boolean
  readonly asleep: boolean
  readonly sleepLevel: SleepLevel | null
  readonly loras: ReadonlyArray<number>
  readonly pinned: ReadonlyArray<number>
  readonly usedBytes: number
}

/** A Worker plus a read-only view of its state, for checking what the control plane believes. */
export interface SimulatedWorker extends WorkerShape {
  readonly truth: () => SimWorkerTruth
  /**
   * The `oomOnWake` fault: a wake that finds the device taken (another process grabbed it while
   * the rank slept). It answers `OutOfMemory`, changes nothing, so the rank stays asleep, and
   * marks the rank unhealthy as every out-of-memory answer does.
   */
  readonly wakeUpOutOfMemory: () => Effect.Effect<never, OutOfMemory>
}

/** One rank's configuration and mutable state, shared by the method functions below. */
interface SimRank {
  readonly rank: number
  readonly outputRank: number
  readonly config: ResolvedSimModelConfig
  /** Undefined when the model has no LoRA manager. */
  readonly loras: LoraManager | undefined
  loaded: boolean
  sleepLevel: SleepLevel | null
  /** Why the last call ran out of memory; cleared by the next successful call. */
  unhealthyReason: string | null
}

/** Builds one simulated rank. Use through `makeSimCluster`, or alone to test the worker. */
export const makeSimulatedWorker = (options: SimWorkerOptions): SimulatedWorker => {
  assert(Number.isInteger(options.worldSize) && options.worldSize >= 1, "the world has at least one rank")
  assert(Number.isInteger(options.rank) && options.rank >= 0 && options.rank < options.worldSize, "the rank lies within the world")
  assert(options.outputRank >= 0 && options.outputRank < options.worldSize, "the output rank lies within the world")
  const config = resolveSimModelConfig(options)
  const sim: SimRank = {
    rank: options.rank,
    outputRank: options.outputRank,
    config,
    loras: config.lora ? makeLoraManager(config) : undefined,
    loaded: false,
    sleepLevel: null,
    unhealthyReason: null
  }
  return {
    load: () => tracked(sim, load(sim)),
    execute: (batch) => tracked(sim, execute(sim, batch)),
    sleep: (level) => tracked(sim, sleep(sim, level)),
    wakeUp: (tags) => tracked(sim, wakeUp(sim, tags)),
    addLora: (adapter) => withLora(sim, "addLora", (manager) => addAdapter(sim, manager, adapter)),
    removeLora: (adapterId) => withLora(sim, "removeLora", (manager) => Effect.fromResult(manager.remove(adapterId))),
    pinLora: (adapterId) => withLora(sim, "pinLora", (manager) => Effect.fromResult(manager.pin(adapterId))),
    listLoras: () => withLora(sim, "listLoras", (manager) => Effect.sync(() => manager.ids())),
    checkHealth: () => checkHealth(sim),
    shutdown: () => Effect.void,
    truth: () => truth(sim),
    wakeUpOutOfMemory: () => tracked(sim, Effect.fail(new OutOfMemory({ requestedBytes: poolBytes(sim.config), availableBytes: 0 })))
  }
}

const used = (sim: SimRank): number =>
  usedBytes(sim.config, { loaded: sim.loaded, sleepLevel: sim.sleepLevel, adapterCount: sim.loras?.ids().length ?? 0 })

/** Health follows memory: an OOM answer marks the rank unhealthy, any success heals it. */
const tracked = <A, E>(sim: SimRank, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  effect.pipe(
    Effect.tap(() => Effect.sync(() => { sim.unhealthyReason = null })),
    Effect.tapError((error) => Effect.sync(() => {
      if (isOutOfMemory(error)) sim.unhealthyReason = error.message
    })),
    Effect.tap(() => Effect.sync(() => assert(used(sim) <= sim.config.deviceBytes, "device memory never overflows"))))

const notLoaded = (sim: SimRank) => new ModelError({ reason: `the model is not loaded on rank ${sim.rank}` })

const load = (sim: SimRank) => Effect.gen(function* () {
  if (!sim.loaded) {
    const oom = overflow(sim.config, used(sim), poolBytes(sim.config))
    if (oom) return yield* oom
    sim.loaded = true
  }
  return { bytes: poolBytes(sim.config) }
})

const execute = (sim: SimRank, batch: Batch): Effect.Effect<ExecuteReply, ModelError | WorkerAsleep | OutOfMemory> =>
  Effect.gen(function* () {
    const refused = refuseBatch(sim, batch)
    if (refused) return yield* refused
    const [outputType = "image"] = batchOutputTypes(batch)
    // Steps take virtual time, so a timeout or an abort can land mid-batch as it does for real.
    yield* Effect.sleep(Duration.millis(batchSteps(batch) * sim.config.stepMs))
    if (sim.rank !== sim.outputRank) return { _tag: "Ack" as const }
    return { _tag: "Output" as const, output: legacyOutput(outputType, batch.requests[0]?.fps ?? 0, computeItems(batch)) }
  })

/** Why this rank cannot run the batch, checked before any step runs; undefined when it can. */
const refuseBatch = (sim: SimRank, batch: Batch): ModelError | WorkerAsleep | OutOfMemory | undefined => {
  if (!sim.loaded) return notLoaded(sim)
  if (sim.sleepLevel !== null) return new WorkerAsleep({ level: sim.sleepLevel })
  if (batchOutputTypes(batch).length > 1) return new ModelError({ reason: `batch ${batch.batchId} mixes output types` })
  // An adapter missing on one rank is how divergent ranks become visible: name both.
  const missing = batch.requests.find((request) => request.lora !== undefined && !(sim.loras?.has(request.lora.id) ?? false))
  if (missing?.lora) {
    return new ModelError({ reason: `adapter ${missing.lora.id} (${missing.lora.name}) is not loaded on rank ${sim.rank}` })
  }
  return overflow(sim.config, used(sim), activationBytes(batch, sim.config.activationBytesPerPixel))
}

const sleep = (sim: SimRank, level: SleepLevel) => Effect.gen(function* () {
  if (!sim.loaded) return yield* notLoaded(sim)
  if (sim.sleepLevel !== null) return yield* new AlreadyAsleep({ level: sim.sleepLevel })
  sim.sleepLevel = level
  return { level, freedBytes: poolBytes(sim.config) }
})

// All or nothing: a wake that leaves a pool asleep would run on missing memory (the corrupted
// outputs users reported upstream), so it changes nothing and names what is missing.
const wakeUp = (sim: SimRank, tags: ReadonlyArray<MemoryTag>) => Effect.gen(function* () {
  if (sim.sleepLevel === null) return yield* new NotAsleep()
  const missingTags = missingWakeTags(sim.config, tags)
  if (missingTags.length > 0) return yield* new IncompleteWake({ missingTags })
  const oom = overflow(sim.config, used(sim), poolBytes(sim.config))
  if (oom) return yield* oom
  sim.sleepLevel = null
  return { tags: sleepingPools(sim.config), restoredBytes: poolBytes(sim.config) }
})

/** Runs a LoRA method on the manager, or answers LoraUnsupported when the model has none. */
const withLora = <A, E>(sim: SimRank, method: string, body: (manager: LoraManager) => Effect.Effect<A, E>) =>
  tracked(sim, Effect.suspend((): Effect.Effect<A, E | LoraUnsupported> =>
    sim.loras ? body(sim.loras) : Effect.fail(new LoraUnsupported({ method }))))

/**
 * Adds an adapter: a re-add of a held adapter succeeds unchanged (a retried add is harmless),
 * an invalid one is refused, and one that does not fit on the device is refused as invalid for
 * this device, since the contract gives `addLora` no `OutOfMemory` answer.
 */
const addAdapter = (sim: SimRank, manager: LoraManager, adapter: LoraAdapter): Effect.Effect<LoraReport, LoraInvalid> =>
  Effect.suspend(() => {
    if (manager.has(adapter.id)) return Effect.succeed(manager.report(adapter.id))
    const invalid = invalidAdapter(sim.config, adapter)
    if (invalid) return Effect.fail(invalid)
    const oom = overflow(sim.config, used(sim), sim.config.loraBytes)
    if (oom) return Effect.fail(new LoraInvalid({ adapterId: adapter.id, reason: oom.message }))
    return Effect.succeed(manager.add(adapter))
  })

const checkHealth = (sim: SimRank): Effect.Effect<Health, Unhealthy> =>
  Effect.suspend(() => sim.unhealthyReason !== null
    ? Effect.fail(new Unhealthy({ reason: sim.unhealthyReason }))
    : Effect.succeed({
      rank: sim.rank,
      asleep: sim.sleepLevel !== null,
      sleepLevel: sim.sleepLevel,
      loras: sim.loras?.ids() ?? [],
      usedBytes: used(sim),
      device: `${sim.config.deviceName}:${sim.rank}`
    }))

const truth = (sim: SimRank): SimWorkerTruth => ({
  rank: sim.rank,
  loaded: sim.loaded,
  asleep: sim.sleepLevel !== null,
  sleepLevel: sim.sleepLevel,
  loras: sim.loras?.ids() ?? [],
  pinned: sim.loras?.pinnedIds() ?? [],
  usedBytes: used(sim)
})

const isOutOfMemory = (error: unknown): error is OutOfMemory =>
  typeof error === "object" && error !== null && (error as { readonly _tag?: unknown })._tag === "OutOfMemory"

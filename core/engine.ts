/**
 * The Engine: admission, the busy loop, ordered control operations, and a close that always
 * reports.
 *
 * Requests are decoded and checked at `submit`, queued in the scheduler, and run in batches by a
 * busy-loop fiber. Control operations (LoRA, sleep/wake, health) and batches share one "wire"
 * (a one-permit semaphore), so a control call never interleaves with a batch on the ranks, and
 * control calls run in the order they were made. Every admitted request ends in exactly one
 * terminal outcome. `close` is bounded by its `timeoutMs`, idempotent, and its report names what
 * is left running; calling it again retries exactly those ranks (upstream returned early and
 * left workers running without a word).
 */
import { Clock, Context, Deferred, Effect, Fiber, Layer, Queue, Result, Scope, Semaphore } from "effect"
import { assert } from "./assert.ts"
import type { AggregateError } from "./control.ts"
import * as Control from "./control-ops.ts"
import type { CollectiveRpcError } from "./control.ts"
import {
  type ControlFailed, DuplicateRequest, EngineAsleep, EngineClosed, EngineDegraded,
  ExecutorDead, InvalidRequest, type OutputContractError, QueueFull, type RequestAborted, UnknownRequest
} from "./errors.ts"
import { type CallError, Executor, type ExecutorShape } from "./executor.ts"
import { assertTransition, type CloseReport, type EngineState, isLive } from "./lifecycle.ts"
import { fromLegacy, type OutputEnvelope, splitPerPrompt } from "./output.ts"
import { Randomness, type Prng } from "./random.ts"
import { type CorePolicy, resolvePolicy } from "./policy.ts"
import { makeRankViews, type RankView } from "./rank-views.ts"
import { decodeRequest, defaultRequestLimits, type RequestLimits } from "./request.ts"
import { type Admitted, makeScheduler, type Scheduler } from "./scheduler.ts"
import { shutdownBudgetMs } from "./shutdown.ts"
import type { Health, LoraAdapter, LoraReport, MemoryTag, SleepLevel } from "./worker.ts"

export type { CloseReport, EngineState } from "./lifecycle.ts"
export type { RemoveSummary, SleepSummary, WakeSummary } from "./control-ops.ts"

/** A request's terminal success. */
export interface RequestOutput {
  readonly requestId: string
  readonly batchId: number
  readonly output: OutputEnvelope
}

/** Why a request could not be admitted. */
export type AdmissionError =
  | InvalidRequest | DuplicateRequest | QueueFull | EngineClosed | EngineAsleep | EngineDegraded | ExecutorDead
/** Why an admitted request ended without output. */
export type RequestError =
  | RequestAborted | CollectiveRpcError | OutputContractError | ExecutorDead | EngineClosed | EngineAsleep | CallError
export type ControlError = ControlFailed | CallError | EngineClosed

/** A handle to an admitted request. */
export interface RequestHandle {
  readonly requestId: string
  readonly result: Effect.Effect<RequestOutput, RequestError>
}

export interface EngineShape {
  /** Admits a request and waits for its terminal outcome. */
  readonly submit: (input: unknown) => Effect.Effect<RequestOutput, AdmissionError | RequestError>
  /** Admits a request and answers at once with a handle to its outcome. */
  readonly enqueue: (input: unknown) => Effect.Effect<RequestHandle, AdmissionError>
  /** The outcome of a request admitted earlier (still active, or among the recently finished). */
  readonly await: (requestId: string) => Effect.Effect<RequestOutput, RequestError | UnknownRequest>
  readonly abort: (requestId: string) => Effect.Effect<void, UnknownRequest>
  readonly addLora: (adapter: LoraAdapter, options?: ControlOptions) => Effect.Effect<ReadonlyArray<LoraReport>, ControlError>
  /** Succeeds when the adapter is absent on every rank afterwards and some rank removed it. */
  readonly removeLora: (adapterId: number, options?: ControlOptions) => Effect.Effect<Control.RemoveSummary, ControlError>
  readonly pinLora: (adapterId: number, options?: ControlOptions) => Effect.Effect<ReadonlyArray<LoraReport>, AggregateError | CallError | EngineClosed>
  /** Every rank's adapters; `RankDivergence` when they differ. */
  readonly listLoras: (options?: ControlOptions) => Effect.Effect<ReadonlyArray<number>, AggregateError | CallError | EngineClosed>
  readonly sleep: (level: SleepLevel, options?: ControlOptions) => Effect.Effect<Control.SleepSummary, ControlError>
  readonly wakeUp: (tags: ReadonlyArray<MemoryTag>, options?: ControlOptions) => Effect.Effect<Control.WakeSummary, ControlError>
  readonly checkHealth: (options?: ControlOptions) => Effect.Effect<ReadonlyArray<Health>, AggregateError | CallError | EngineClosed>
  readonly state: Effect.Effect<EngineState>
  /** What the engine believes each rank holds. */
  readonly views: Effect.Effect<ReadonlyArray<RankView>>
  /** Bounded by `timeoutMs`; idempotent; a retry escalates against the survivors. */
  readonly close: (options: { readonly timeoutMs: number }) => Effect.Effect<CloseReport>
}

export interface ControlOptions { readonly timeoutMs?: number | undefined }

/** The Engine service. */
export class Engine extends Context.Service<Engine, EngineShape>()("rankwise/Engine") {}

export interface EngineConfig {
  readonly limits?: RequestLimits | undefined
  readonly queueCapacity?: number | undefined
  readonly batchSizeMax?: number | undefined
  readonly controlTimeoutMs?: number | undefined
  readonly executeTimeoutMs?: number | undefined
  readonly loadTimeoutMs?: number | undefined
  /** Decision points; the correct policy unless a conformance mutant overrides one. */
  readonly policy?: Partial<CorePolicy> | undefined
}

const defaults = {
  queueCapacity: 256,
  batchSizeMax: 8,
  controlTimeoutMs: 5_000,
  executeTimeoutMs: 60_000,
  loadTimeoutMs: 60_000
}

type Entry = Admitted<RequestOutput, RequestError>

/** Builds an engine over an executor: loads the model on every rank, then starts the busy loop. */
export const makeEngine = (config: EngineConfig = {}) =>
  Effect.gen(function* () {
    const executor = yield* Executor
    const seeds = (yield* Randomness).stream("request-seeds")
    const scope = yield* Scope.Scope
    const clock = yield* Clock.Clock
    // A queue captures the dispatcher of the fiber that creates it, so it is made here, in the
    // engine's own fiber (under the simulator, that is the world's scheduler).
    const work = yield* Queue.dropping<true>(1)
    const core = makeEngineCore(executor, seeds, work, config)
    yield* executor.onFailure((failure) => core.executorFailed(failure.deadRanks))
    yield* executor.collectiveRpc({ method: "load" }, {
      timeoutMs: config.loadTimeoutMs ?? defaults.loadTimeoutMs,
      aggregate: { name: "loaded", aggregate: (result) => Result.succeed(result) }
    }).pipe(Effect.tapError(() => Effect.sync(() => core.setState("failed"))))
    core.setState("ready")
    const busyLoop = yield* Effect.forkIn(runBusyLoop(core), scope)
    return Engine.of(engineOperations(core, busyLoop, () => clock.currentTimeMillisUnsafe()))
  })

/** The Engine layer over the `Executor` and `Randomness` in context. */
export const layerEngine = (config: EngineConfig = {}) => Layer.effect(Engine, makeEngine(config))

// ---------------------------------------------------------------------------------------------
// The engine's mutable core: state, scheduler, views, and the wire.
// ---------------------------------------------------------------------------------------------

interface EngineCore {
  readonly executor: ExecutorShape
  readonly scheduler: Scheduler<RequestOutput, RequestError>
  readonly control: Control.ControlContext
  readonly wire: Semaphore.Semaphore
  /** Serializes close calls; separate from the wire, which a hung collective may hold. */
  readonly closeLock: Semaphore.Semaphore
  readonly work: Queue.Queue<true>
  readonly seeds: Prng
  readonly config: typeof defaults & { readonly limits: RequestLimits; readonly policy?: Partial<CorePolicy> | undefined }
  readonly state: () => EngineState
  readonly setState: (next: EngineState) => void
  /** Recomputes ready/asleep/degraded from the rank views after a control operation. */
  readonly settleState: () => void
  readonly executorFailed: (deadRanks: ReadonlyArray<number>) => void
  nextBatchId: number
  deadRanks: ReadonlyArray<number>
  closeAttempts: number
  failedBeforeClose: boolean
  lastClose: CloseReport | undefined
}

const makeEngineCore = (executor: ExecutorShape, seeds: Prng, work: Queue.Queue<true>, config: EngineConfig): EngineCore => {
  let state: EngineState = "starting"
  const policy = resolvePolicy(config.policy)
  const views = makeRankViews(executor.worldSize)
  const resolved = { ...defaults, ...stripUndefined(config), limits: config.limits ?? defaultRequestLimits }
  const core: EngineCore = {
    executor,
    scheduler: makeScheduler({ queueCapacity: resolved.queueCapacity, batchSizeMax: resolved.batchSizeMax }),
    control: { executor, views, adapters: new Map(), policy },
    wire: Semaphore.makeUnsafe(1),
    closeLock: Semaphore.makeUnsafe(1),
    work,
    seeds,
    config: resolved,
    state: () => state,
    setState: (next) => {
      assertTransition(state, next)
      state = next
    },
    settleState: () => {
      if (!isLive(state) || state === "starting") return
      const next = views.divergence() ? "degraded" : views.commonSleep() ? "asleep" : "ready"
      core.setState(next)
      // Queued requests cannot run on sleeping ranks: end them now rather than let them wait unbounded.
      if (next === "asleep") core.scheduler.failWaiting(new EngineAsleep({ operation: "submit" }))
    },
    executorFailed: (deadRanks) => {
      core.deadRanks = deadRanks
      if (isLive(state)) core.setState("failed")
      core.scheduler.failAll(new ExecutorDead({ method: "execute", deadRanks }))
    },
    nextBatchId: 1,
    deadRanks: [],
    closeAttempts: 0,
    failedBeforeClose: false,
    lastClose: undefined
  }
  return core
}

const stripUndefined = <T extends object>(value: T): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([, inner]) => inner !== undefined)) as Partial<T>

// ---------------------------------------------------------------------------------------------
// Requests: admission and the busy loop.
// ---------------------------------------------------------------------------------------------

const admit = (core: EngineCore, input: unknown): Effect.Effect<Entry, AdmissionError> =>
  Effect.suspend((): Effect.Effect<Entry, AdmissionError> => {
    const refusal = admissionRefusal(core)
    if (refusal) return Effect.fail(refusal)
    const decoded = decodeRequest(input, core.config.limits)
    if (Result.isFailure(decoded)) return Effect.fail(decoded.failure)
    const request = decoded.success
    if (request.lora && !core.control.views.heldEverywhere(request.lora.id)) {
      const views = core.control.views
      return Effect.fail(core.state() === "degraded"
        ? new EngineDegraded({ operation: "submit", divergentRanks: views.divergence()?.divergentRanks ?? [], reason: `adapter ${request.lora.id} is not held by every rank` })
        : new InvalidRequest({ field: "lora.id", rule: `adapter ${request.lora.id} is not loaded on every rank; call addLora first` }))
    }
    const seed = request.seed ?? core.seeds.nextUint32()
    const entry = core.scheduler.admit({ ...request, seed })
    if (!("outcome" in entry)) return Effect.fail(entry)
    Queue.offerUnsafe(core.work, true)
    return Effect.succeed(entry)
  })

const admissionRefusal = (core: EngineCore): AdmissionError | undefined => {
  const state = core.state()
  if (state === "failed") return new ExecutorDead({ method: "submit", deadRanks: core.deadRanks })
  if (!isLive(state)) return new EngineClosed({ operation: "submit" })
  const sleep = core.control.views.commonSleep()
  // Every rank asleep is "asleep", whatever else diverges; ranks that disagree about sleep are degraded.
  if (state === "asleep" || (sleep !== undefined && sleep > 0)) return new EngineAsleep({ operation: "submit" })
  const divergence = core.control.views.divergence()
  if (state === "degraded" && divergence && sleep === undefined) {
    return new EngineDegraded({ operation: "submit", divergentRanks: divergence.divergentRanks, reason: divergence.reason })
  }
  return undefined
}

/** Runs forever (until close interrupts it): wait for work, then run batches while there are any. */
const runBusyLoop = (core: EngineCore): Effect.Effect<never> =>
  Effect.forever(
    Effect.gen(function* () {
      yield* Queue.take(core.work)
      while (yield* core.wire.withPermits(1)(runNextBatch(core))) {
        // Each batch takes and releases the wire, so a waiting control call runs between batches.
      }
    })
  )

const runNextBatch = (core: EngineCore): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    const state = core.state()
    if (state !== "ready" && state !== "degraded") return false
    const batch = core.scheduler.nextBatch()
    if (batch.length === 0) return false
    const batchId = core.nextBatchId++
    const output = yield* Effect.result(core.executor.execute(
      { batchId, requests: batch.map((entry) => entry.request) },
      { timeoutMs: core.config.executeTimeoutMs }
    ))
    if (Result.isFailure(output)) {
      for (const entry of batch) core.scheduler.finish(entry, { _tag: "failed", error: output.failure })
      return true
    }
    deliverOutputs(core, batch, batchId, output.success)
    return true
  })

/** Checks the batch output against the contract and hands each prompt its own outputs. */
const deliverOutputs = (core: EngineCore, batch: ReadonlyArray<Entry>, batchId: number, raw: unknown) => {
  const split = Result.flatMap(fromLegacy(raw), (envelope) =>
    splitPerPrompt(envelope, batch.length, batch[0].request.outputsPerPrompt))
  batch.forEach((entry, index) => {
    core.scheduler.finish(entry, Result.isFailure(split)
      ? { _tag: "failed", error: split.failure }
      : { _tag: "completed", value: { requestId: entry.request.requestId, batchId, output: split.success[index] } })
  })
}

// ---------------------------------------------------------------------------------------------
// The service's operations.
// ---------------------------------------------------------------------------------------------

const engineOperations = (core: EngineCore, busyLoop: Fiber.Fiber<never>, nowMs: () => number): EngineShape => {
  const timeoutOf = (options?: ControlOptions) => options?.timeoutMs ?? core.config.controlTimeoutMs
  // Control operations take the wire in call order and re-check the state once they hold it:
  // close may have run while they waited.
  const onWire = <A, E>(operation: string, body: Effect.Effect<A, E>): Effect.Effect<A, E | EngineClosed | ExecutorDead> =>
    core.wire.withPermits(1)(Effect.suspend((): Effect.Effect<A, E | EngineClosed | ExecutorDead> => {
      const state = core.state()
      if (state === "failed") return Effect.fail(new ExecutorDead({ method: operation, deadRanks: core.deadRanks }))
      if (!isLive(state)) return Effect.fail(new EngineClosed({ operation }))
      return body.pipe(Effect.ensuring(Effect.sync(() => core.settleState())))
    }))

  const enqueue = (input: unknown) =>
    Effect.map(admit(core, input), (entry): RequestHandle => ({
      requestId: entry.request.requestId,
      result: awaitEntry(entry)
    }))

  return {
    submit: (input) => Effect.flatMap(admit(core, input), awaitEntry),
    enqueue,
    await: (requestId) => {
      const entry = core.scheduler.lookup(requestId)
      return entry ? awaitEntry(entry) : Effect.fail(new UnknownRequest({ requestId }))
    },
    abort: (requestId) =>
      Effect.suspend(() => core.scheduler.abort(requestId) ? Effect.void : Effect.fail(new UnknownRequest({ requestId }))),
    addLora: (adapter, options) => onWire("addLora", Control.addLora(core.control, adapter, timeoutOf(options))),
    removeLora: (adapterId, options) => onWire("removeLora", Control.removeLora(core.control, adapterId, timeoutOf(options))),
    pinLora: (adapterId, options) => onWire("pinLora", Control.pinLora(core.control, adapterId, timeoutOf(options))),
    listLoras: (options) => onWire("listLoras", Control.listLoras(core.control, timeoutOf(options))),
    sleep: (level, options) => onWire("sleep", Control.sleep(core.control, level, timeoutOf(options))),
    wakeUp: (tags, options) => onWire("wakeUp", Control.wakeUp(core.control, tags, timeoutOf(options))),
    checkHealth: (options) => onWire("checkHealth", Control.checkHealth(core.control, timeoutOf(options))),
    state: Effect.sync(() => core.state()),
    views: Effect.sync(() => core.control.views.all()),
    close: (options) => close(core, busyLoop, options.timeoutMs, nowMs)
  }
}

const awaitEntry = (entry: Entry): Effect.Effect<RequestOutput, RequestError> => Deferred.await(entry.outcome)

// ---------------------------------------------------------------------------------------------
// Close.
// ---------------------------------------------------------------------------------------------

/**
 * Stops admission, ends every active request with `EngineClosed`, stops the busy loop, then shuts
 * the executor down within what is left of `timeoutMs`. Concurrent and repeated calls are
 * serialized; after a `closed` (or `failed`) report, close answers that report again.
 */
const close = (core: EngineCore, busyLoop: Fiber.Fiber<never>, timeoutMs: number, nowMs: () => number): Effect.Effect<CloseReport> => {
  const startedMs = nowMs()
  // A close that waits behind another one is still bound by its own timeoutMs: if the other has
  // not finished by then, it answers what is known now and leaves the retry to the caller.
  return Effect.flatMap(
    Effect.timeoutOption(closeOnce(core, busyLoop, timeoutMs, nowMs), timeoutMs),
    (report) => report._tag === "Some"
      ? Effect.succeed(report.value)
      : Effect.map(core.executor.exitedRanks, (exited) => provisionalReport(core, exited, startedMs, nowMs))
  )
}

const provisionalReport = (core: EngineCore, exited: ReadonlyArray<number>, startedMs: number, nowMs: () => number): CloseReport => {
  const all = Array.from({ length: core.executor.worldSize }, (_, rank) => rank)
  return {
    state: "pending-cleanup",
    failedRequests: core.lastClose?.failedRequests ?? [],
    stoppedRanks: exited,
    survivingRanks: all.filter((rank) => !exited.includes(rank)),
    exits: core.lastClose?.exits ?? [],
    attempts: core.closeAttempts,
    elapsedMs: nowMs() - startedMs,
    problem: "another close was still running when this one's bound ran out; call close again"
  }
}

const closeOnce = (core: EngineCore, busyLoop: Fiber.Fiber<never>, timeoutMs: number, nowMs: () => number) => {
  return core.closeLock.withPermits(1)(Effect.gen(function* () {
    if (core.lastClose && core.lastClose.state !== "pending-cleanup") return core.lastClose
    assert(timeoutMs >= 0 && Number.isFinite(timeoutMs), "close has a finite bound")
    const startedMs = nowMs()
    // Remembered from the first attempt: by a retry the state reads pending-cleanup.
    core.failedBeforeClose ||= core.state() === "failed"
    const failedBefore = core.failedBeforeClose
    core.closeAttempts++
    core.setState("closing")
    const failedRequests = core.control.policy.closePendingRequests === "fail"
      ? core.scheduler.failAll(new EngineClosed({ operation: "submit" }))
      : []
    yield* Fiber.interrupt(busyLoop)
    // Split the bound over the three escalation steps; a little is kept for the report itself.
    const stepMs = Math.max(0, Math.floor((timeoutMs * 0.95) / 3))
    assert(shutdownBudgetMs({ graceMs: stepMs }) <= timeoutMs, "escalation fits in the close bound")
    const escalation = yield* core.executor.shutdown({ graceMs: stepMs })
    // A mutant may claim everything stopped; the correct report names the survivors.
    const shutdown = core.control.policy.closeReport === "truthful" ? escalation : { ...escalation, survivingRanks: [] }
    const state: CloseReport["state"] = shutdown.survivingRanks.length > 0 ? "pending-cleanup" : failedBefore ? "failed" : "closed"
    core.setState(state === "pending-cleanup" ? "pending-cleanup" : "closed")
    const report: CloseReport = {
      state,
      failedRequests: [...(core.lastClose?.failedRequests ?? []), ...failedRequests],
      stoppedRanks: shutdown.stoppedRanks,
      survivingRanks: shutdown.survivingRanks,
      exits: shutdown.exits,
      attempts: core.closeAttempts,
      elapsedMs: nowMs() - startedMs,
      problem: failedBefore ? `the engine had failed before close: rank ${core.deadRanks.join(", ")} died` : undefined
    }
    core.lastClose = report
    return report
  }))
}

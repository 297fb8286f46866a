/**
 * The harness of the engine tests: an engine over the in-process simulated cluster, in a
 * virtual-time world, plus readers that compare what the engine believes with what the ranks
 * really hold.
 *
 * Everything that makes a queue (the cluster, the executor, the engine) is built inside a fiber
 * of the world, since a queue captures the dispatcher of the fiber that creates it. Each `run` is
 * one step driven to its end on virtual time; a step that deadlocks or overruns its budget throws,
 * because for these tests that is a finding, not an outcome.
 */
import { Cause, Effect, Exit, type Fiber, Scope } from "effect"
import { makeSimCluster, type SimFaultHandle, type SimRankTruth } from "../../backends/sim/cluster.ts"
import type { SimModelConfig } from "../../backends/sim/config.ts"
import type { FaultSpec } from "../../backends/sim/faults.ts"
import { type EngineConfig, type EngineShape, type EngineState, makeEngine } from "../../core/engine.ts"
import { Executor, makeExecutor } from "../../core/executor.ts"
import { makeRandomness, Randomness } from "../../core/random.ts"
import type { SleepBelief } from "../../core/rank-views.ts"
import { makeWorld, type World } from "../../simulator/world.ts"

export interface HarnessOptions {
  readonly seed: number
  readonly worldSize: number
  readonly model?: SimModelConfig | undefined
  readonly engine?: EngineConfig | undefined
  readonly faults?: ReadonlyArray<FaultSpec> | undefined
}

/** A frozen copy of one rank's view (the engine's views are live, mutable objects). */
export interface ViewSnapshot {
  readonly rank: number
  readonly loras: ReadonlyArray<number>
  readonly lorasMaybe: ReadonlyArray<number>
  readonly sleep: SleepBelief
}

export interface Snapshot {
  readonly state: EngineState
  readonly views: ReadonlyArray<ViewSnapshot>
  readonly truth: ReadonlyArray<SimRankTruth>
}

export interface Harness {
  readonly world: World
  readonly engine: EngineShape
  readonly handle: SimFaultHandle
  readonly worldSize: number
  /** Runs one step to its end on virtual time and answers its exit. */
  readonly run: <A, E>(effect: Effect.Effect<A, E>, budgetMs?: number) => Exit.Exit<A, E>
  /** Runs one step that must succeed, and answers its value. */
  readonly runOk: <A, E>(effect: Effect.Effect<A, E>, budgetMs?: number) => A
  /** Starts a fiber in the world; it advances whenever the world is driven. */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  /** Runs ready tasks at the current instant (fibers woken by the last step), without moving time. */
  readonly settle: () => void
  /** Moves virtual time forward by `ms`, processing what falls due. */
  readonly advance: (ms: number) => void
  readonly snapshot: () => Snapshot
  /** Heals faults, closes the engine and the cluster scope. */
  readonly dispose: () => void
}

export const stepBudgetMsDefault = 100_000
const eventsMax = 2_000_000

export const startHarness = (options: HarnessOptions): Harness => {
  const world = makeWorld({ seed: options.seed })
  const scope = Scope.makeUnsafe()
  const runInWorld = <A, E>(effect: Effect.Effect<A, E>, budgetMs = stepBudgetMsDefault): Exit.Exit<A, E> => {
    const result = world.run(effect, { virtualMsMax: budgetMs, eventsMax })
    if (result._tag === "Done") return result.exit
    if (result._tag === "Stuck") throw new Error(`step deadlocked at ${result.atMs} virtual ms`)
    throw new Error(`step overran its budget (${result.reason}) at ${result.atMs} virtual ms`)
  }
  const runOk = <A, E>(effect: Effect.Effect<A, E>, budgetMs?: number): A => {
    const exit = runInWorld(effect, budgetMs)
    if (Exit.isSuccess(exit)) return exit.value
    throw new Error(`step failed: ${Cause.pretty(exit.cause)}`)
  }
  const started = runOk(Effect.gen(function* () {
    const cluster = yield* makeSimCluster({ worldSize: options.worldSize, model: options.model ?? {}, faults: options.faults ?? [] })
    const executor = yield* makeExecutor(cluster.transport)
    const engine = yield* makeEngine(options.engine ?? {}).pipe(
      Effect.provideService(Executor, executor),
      Effect.provideService(Randomness, makeRandomness(options.seed))
    )
    return { engine, handle: cluster.handle }
  }).pipe(Effect.provideService(Scope.Scope, scope)))
  const { engine, handle } = started

  const snapshot = (): Snapshot => runOk(Effect.gen(function* () {
    const state = yield* engine.state
    const views = (yield* engine.views).map((view): ViewSnapshot => ({
      rank: view.rank,
      loras: [...view.loras].sort((a, b) => a - b),
      lorasMaybe: [...view.lorasMaybe].sort((a, b) => a - b),
      sleep: view.sleep
    }))
    const truth = yield* handle.truth()
    return { state, views, truth }
  }), 0)

  let disposed = false
  return {
    world,
    engine,
    handle,
    worldSize: options.worldSize,
    run: runInWorld,
    runOk,
    fork: (effect) => world.fork(effect),
    settle: () => {
      const drained = world.runReady({ eventsMax })
      if (drained._tag !== "Drained") throw new Error("ready tasks did not drain")
    },
    advance: (ms) => {
      const advanced = world.advanceBy(ms, { eventsMax })
      if (advanced._tag !== "Advanced") throw new Error(`advance overran its budget at ${advanced.atMs} virtual ms`)
    },
    snapshot,
    dispose: () => {
      if (disposed) return
      disposed = true
      world.run(Effect.andThen(handle.heal(), engine.close({ timeoutMs: 2_000 })), { virtualMsMax: stepBudgetMsDefault, eventsMax })
      world.run(Scope.close(scope, Exit.void), { virtualMsMax: stepBudgetMsDefault, eventsMax })
    }
  }
}

/** Runs `body` against a fresh harness and disposes of it, whatever happens. */
export const withHarness = <A>(options: HarnessOptions, body: (harness: Harness) => A): A => {
  const harness = startHarness(options)
  try {
    return body(harness)
  } finally {
    harness.dispose()
  }
}

/** The typed failure of an exit; a defect or an interruption is a finding, so it throws. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got success ${safeJson(exit.value)}`)
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure) return failure.error
  throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
}

/** The success value of an exit; anything else throws with the cause. */
export const valueOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw new Error(`expected a success, got ${Cause.pretty(exit.cause)}`)
}

/** The `_tag` of an exit: "Success", the failure's tag, or "Defect"/"Interrupt". */
export const tagOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "Success"
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure) return String((failure.error as { _tag?: unknown })?._tag ?? "Untagged")
  return exit.cause.reasons.some(Cause.isDieReason) ? "Defect" : "Interrupt"
}

export const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}

// ---------------------------------------------------------------------------------------------
// The reference: what "the engine's beliefs match the ranks" means, written from the contract.
// ---------------------------------------------------------------------------------------------

const sameList = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.length === b.length && a.every((value, index) => value === b[index])

const truthSleep = (truth: SimRankTruth): 0 | 1 | 2 => truth.sleepLevel ?? 0

/** A rank's real state as a comparable key. */
export const truthKey = (truth: SimRankTruth): string => `loras [${truth.loras.join(",")}] sleep ${truthSleep(truth)}`

/** True when the view states a rank's exact state, with no uncertainty. */
export const viewIsExact = (view: ViewSnapshot, truth: SimRankTruth): boolean =>
  view.lorasMaybe.length === 0 && view.sleep === truthSleep(truth) && sameList(view.loras, truth.loras)

/** True when the view holds some uncertainty (an adapter or a sleep level marked "maybe"). */
export const viewIsUncertain = (view: ViewSnapshot): boolean => view.lorasMaybe.length > 0 || view.sleep === "maybe"

const viewKey = (view: ViewSnapshot): string => `loras [${view.loras.join(",")}] sleep ${view.sleep}`

/**
 * Every definite belief is true: adapters surely held are held, adapters held are believed held
 * or maybe held, and a definite sleep level is the real one. Answers the ranks where it breaks.
 */
export const dishonestRanks = (snapshot: Snapshot): ReadonlyArray<number> =>
  snapshot.truth.filter((truth) => truth.alive).filter((truth) => {
    const view = snapshot.views[truth.rank]
    const maybe = new Set(view.lorasMaybe)
    const sure = new Set(view.loras)
    const lorasHonest = view.loras.every((id) => truth.loras.includes(id)) &&
      truth.loras.every((id) => sure.has(id) || maybe.has(id))
    const sleepHonest = view.sleep === "maybe" || view.sleep === truthSleep(truth)
    return !(lorasHonest && sleepHonest)
  }).map((truth) => truth.rank)

/**
 * CONS-1, as the contract states it. Answers a description of the violation, or undefined.
 * - ready/asleep: every alive rank's view is exact (equal to the truth, nothing "maybe"), and
 *   `asleep` exactly when every rank sleeps;
 * - whenever two alive ranks really differ, the engine is degraded (or failed), and the views
 *   show it for that pair: one of them is uncertain, or their views differ.
 */
export const silentDivergence = (snapshot: Snapshot): string | undefined => {
  const { state, views, truth } = snapshot
  if (state === "failed" || state === "closing" || state === "closed" || state === "pending-cleanup" || state === "starting") {
    return undefined
  }
  const alive = truth.filter((rank) => rank.alive)
  if (state === "ready" || state === "asleep") {
    const inexact = alive.filter((rank) => !viewIsExact(views[rank.rank], rank)).map((rank) => rank.rank)
    if (inexact.length > 0) return `engine ${state} but views differ from truth on ranks ${inexact.join(", ")}`
    const sleeping = alive.every((rank) => rank.sleepLevel !== null)
    if ((state === "asleep") !== sleeping) return `engine ${state} but ranks ${sleeping ? "all sleep" : "are not all asleep"}`
  }
  for (const a of alive) {
    for (const b of alive) {
      if (a.rank >= b.rank || truthKey(a) === truthKey(b)) continue
      if (state !== "degraded") return `ranks ${a.rank} and ${b.rank} really differ but the engine is ${state}`
      const va = views[a.rank]
      const vb = views[b.rank]
      if (!viewIsUncertain(va) && !viewIsUncertain(vb) && viewKey(va) === viewKey(vb)) {
        return `ranks ${a.rank} (${truthKey(a)}) and ${b.rank} (${truthKey(b)}) differ but the views show both as ${viewKey(va)}`
      }
    }
  }
  return undefined
}

/** One line of the whole picture, for failure messages. */
export const describeSnapshot = (snapshot: Snapshot): string =>
  `state ${snapshot.state}; ` + snapshot.truth.map((truth) => {
    const view = snapshot.views[truth.rank]
    const maybe = view.lorasMaybe.length > 0 ? ` maybe [${view.lorasMaybe.join(",")}]` : ""
    return `rank ${truth.rank}${truth.alive ? "" : " (dead)"}: truth ${truthKey(truth)} / view ${viewKey(view)}${maybe}`
  }).join("; ")

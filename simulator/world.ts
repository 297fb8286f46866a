/**
 * A deterministic discrete-event world that runs unmodified Effect code on virtual time.
 *
 * The production core uses only `Effect.sleep`, `Effect.timeout`, `Clock.currentTimeMillis`,
 * Deferreds, Queues and fibers. A world replaces the two services through which that code
 * touches the host: the `Clock` (its `sleep` pushes a timer onto the world's own event queue)
 * and the `Scheduler` (its dispatcher pushes fiber tasks onto the world's own ready queue
 * instead of `setImmediate`). A synchronous driver then repeats: run ready tasks; stop when the
 * goal fiber is done; otherwise jump virtual time to the earliest timer and fire it. No real
 * timer, promise or host clock is involved, so a run is a pure function of its program and seed,
 * and a simulated hour costs as many steps as it has events, not an hour.
 *
 * Fault model: the world itself injects no faults. What it explores is ordering: with
 * `shuffleReadyTasks`, the next ready task among those of the lowest priority, and the order of
 * timers due at the same instant, are drawn from the seed's `scheduling` stream, so each seed is
 * one legal interleaving and the same seed always replays it. Without it, both are FIFO.
 *
 * What the world cannot see: work that waits on the host (a real promise, socket or timer). It
 * is invisible to the driver, which reports `Stuck` when no ready task and no timer remain.
 * Plain JavaScript callbacks that complete a Deferred (`Deferred.doneUnsafe`) are fine: Effect
 * resumes waiting fibers inline, and anything they schedule lands in the ready queue. A
 * simulated transport should deliver its messages through `schedule`, so delivery is an event.
 */
import { Clock, Context, Duration, Effect, type Exit, type Fiber, Scheduler } from "effect"
import { assert } from "../core/assert.ts"
import { SimTimers, type SimTimersShape } from "../backends/sim/timers.ts"
import { makeStream } from "../core/random.ts"
import { type EventQueue, makeEventQueue, makeReadyQueue, type ReadyQueue, type Timer } from "./event-queue.ts"

export interface WorldOptions {
  readonly seed: number
  /** Pick ready tasks and same-instant timers by the seed instead of FIFO (default false). */
  readonly shuffleReadyTasks?: boolean | undefined
  /** Virtual time at creation, in milliseconds (default 0). */
  readonly startMs?: number | undefined
  /** Most timers pending at once (default 1,000,000); more is an invariant violation. */
  readonly timersMax?: number | undefined
}

/** Limits for one drive of the world; reaching either is a `BudgetExceeded` outcome. */
export interface Budget {
  /** Virtual milliseconds the drive may advance past its starting time. */
  readonly virtualMsMax: number
  /** Events (ready tasks run plus timers fired) the drive may process. */
  readonly eventsMax: number
}

export interface BudgetExceeded {
  readonly _tag: "BudgetExceeded"
  /** Virtual time when the drive stopped: that of the last event it processed. */
  readonly atMs: number
  readonly reason: "virtualMs" | "events"
}

export type RunResult<A, E> =
  | { readonly _tag: "Done"; readonly exit: Exit.Exit<A, E>; readonly atMs: number }
  /** No ready task and no timer, yet the fiber is not done: a deadlock. */
  | { readonly _tag: "Stuck"; readonly atMs: number }
  | BudgetExceeded

export type AdvanceResult = { readonly _tag: "Advanced"; readonly atMs: number } | BudgetExceeded

export type DrainResult = { readonly _tag: "Drained"; readonly tasks: number } | BudgetExceeded

export interface WorldStats {
  readonly events: number
  readonly tasks: number
  readonly timersFired: number
  readonly timersPending: number
  readonly tasksReady: number
  readonly nowMs: number
}

export interface World {
  readonly seed: number
  readonly nowMs: () => number
  readonly clock: Clock.Clock
  readonly scheduler: Scheduler.Scheduler
  /** The world's Clock, Scheduler and SimTimers; every fiber of the run must carry them. */
  readonly context: Context.Context<never>
  /** Starts a fiber in the world (it runs until its first suspension before this returns). */
  readonly fork: {
    <A, E>(effect: Effect.Effect<A, E>): Fiber.Fiber<A, E>
    <A, E, R>(effect: Effect.Effect<A, E, R>, extraContext: Context.Context<R>): Fiber.Fiber<A, E>
  }
  /** Drives the world until `fiber` is done, deadlocks, or exhausts the budget. */
  readonly runUntilDone: <A, E>(fiber: Fiber.Fiber<A, E>, budget: Budget) => RunResult<A, E>
  /** `fork` then `runUntilDone`. */
  readonly run: {
    <A, E>(effect: Effect.Effect<A, E>, budget: Budget): RunResult<A, E>
    <A, E, R>(effect: Effect.Effect<A, E, R>, budget: Budget, extraContext: Context.Context<R>): RunResult<A, E>
  }
  /** Processes every event due up to now + `ms` (the boundary included), then sets now to it. */
  readonly advanceBy: (ms: number, options: { readonly eventsMax: number }) => AdvanceResult
  /** Runs ready tasks only; virtual time stays put. */
  readonly runReady: (options: { readonly eventsMax: number }) => DrainResult
  /** Runs `callback` as an event `delayMs` from now: how a simulated transport delivers. */
  readonly schedule: (delayMs: number, callback: () => void) => Timer
  /** Cancels a pending `schedule`; false when it already fired or was cancelled. */
  readonly cancel: (timer: Timer) => boolean
  readonly stats: () => WorldStats
}

const timersMaxDefault = 1_000_000
/** `Scheduler.flush` has no budget parameter; more ready tasks than this in one flush is a bug. */
const flushTasksMax = 10_000_000

/** Makes a world at virtual time `startMs`. Use one world per run; worlds share nothing. */
export const makeWorld = (options: WorldOptions): World => {
  const startMs = options.startMs ?? 0
  assert(Number.isFinite(startMs), "startMs is finite")
  // One stream orders both ready tasks and same-instant timers: both are "which of several
  // runnable things goes first", and one stream keeps a seed's interleaving a single sequence.
  const scheduling = options.shuffleReadyTasks === true ? makeStream(options.seed, "scheduling") : undefined
  const state: WorldState = {
    timers: makeEventQueue({ timersMax: options.timersMax ?? timersMaxDefault, tieBreak: scheduling }),
    ready: makeReadyQueue(scheduling),
    nowMs: startMs,
    tasks: 0,
    timersFired: 0,
    driving: false
  }
  const clock = makeVirtualClock(state)
  const scheduler = makeWorldScheduler(state.ready, () => flushReady(state))
  const timers: SimTimersShape = {
    at: (atMs, callback) => {
      const timer = state.timers.push(Math.max(atMs, state.nowMs), callback)
      return () => void state.timers.cancel(timer)
    }
  }
  const context = Context.make(Scheduler.Scheduler, scheduler).pipe(Context.add(Clock.Clock, clock), Context.add(SimTimers, timers))
  const forkInWorld = <A, E, R>(effect: Effect.Effect<A, E, R>, extraContext?: Context.Context<R>) =>
    fork(context, effect, extraContext)
  return {
    seed: options.seed,
    nowMs: () => state.nowMs,
    clock,
    scheduler,
    context,
    fork: forkInWorld as World["fork"],
    runUntilDone: (fiber, budget) => runUntilDone(state, fiber, budget),
    run: ((effect: Effect.Effect<unknown, unknown, unknown>, budget: Budget, extraContext?: Context.Context<unknown>) =>
      runUntilDone(state, forkInWorld(effect, extraContext), budget)) as World["run"],
    advanceBy: (ms, limits) => advanceBy(state, ms, limits),
    runReady: (limits) => runReady(state, limits),
    schedule: (delayMs, callback) => schedule(state, delayMs, callback),
    cancel: state.timers.cancel,
    stats: () => stats(state)
  }
}

/** Everything a world mutates. Owned by one world; drivers below are its only writers. */
interface WorldState {
  readonly timers: EventQueue
  readonly ready: ReadyQueue
  nowMs: number
  tasks: number
  timersFired: number
  /** True while a driver runs, so a fiber cannot re-enter its own world's driver. */
  driving: boolean
}

const eventCount = (state: WorldState): number => state.tasks + state.timersFired

/** Starts a fiber; the world's services win, since a caller's Clock or Scheduler would escape. */
const fork = <A, E, R>(
  context: Context.Context<never>,
  effect: Effect.Effect<A, E, R>,
  extraContext: Context.Context<R> | undefined
): Fiber.Fiber<A, E> => {
  const fiberContext = extraContext === undefined ? context : Context.merge(extraContext, context)
  return Effect.runForkWith(fiberContext as Context.Context<R>)(effect)
}

const runUntilDone = <A, E>(state: WorldState, fiber: Fiber.Fiber<A, E>, budget: Budget): RunResult<A, E> =>
  drive(state, () => {
    assertBudget(budget)
    const deadlineMs = state.nowMs + budget.virtualMsMax
    const eventsEnd = eventCount(state) + budget.eventsMax
    while (true) {
      const drained = drainReady(state, eventsEnd, fiber)
      const exit = fiber.pollUnsafe()
      if (exit !== undefined) return { _tag: "Done", exit, atMs: state.nowMs }
      if (drained === "events") return budgetExceeded(state.nowMs, "events")
      const nextAtMs = state.timers.peekAtMs()
      if (nextAtMs === undefined) return { _tag: "Stuck", atMs: state.nowMs }
      if (nextAtMs > deadlineMs) return budgetExceeded(state.nowMs, "virtualMs")
      if (eventCount(state) >= eventsEnd) return budgetExceeded(state.nowMs, "events")
      fireNextTimer(state)
    }
  })

const advanceBy = (state: WorldState, ms: number, limits: { readonly eventsMax: number }): AdvanceResult =>
  drive(state, () => {
    assert(Number.isFinite(ms) && ms >= 0, () => `advanceBy takes a finite, non-negative ms (got ${ms})`)
    assertEventsMax(limits.eventsMax)
    const targetMs = state.nowMs + ms
    const eventsEnd = eventCount(state) + limits.eventsMax
    while (true) {
      if (drainReady(state, eventsEnd) === "events") return budgetExceeded(state.nowMs, "events")
      const nextAtMs = state.timers.peekAtMs()
      if (nextAtMs === undefined || nextAtMs > targetMs) break
      if (eventCount(state) >= eventsEnd) return budgetExceeded(state.nowMs, "events")
      fireNextTimer(state)
    }
    setNow(state, targetMs)
    return { _tag: "Advanced", atMs: targetMs }
  })

const runReady = (state: WorldState, limits: { readonly eventsMax: number }): DrainResult =>
  drive(state, () => {
    assertEventsMax(limits.eventsMax)
    const tasksBefore = state.tasks
    if (drainReady(state, eventCount(state) + limits.eventsMax) === "events") {
      return budgetExceeded(state.nowMs, "events")
    }
    return { _tag: "Drained", tasks: state.tasks - tasksBefore }
  })

/** `Scheduler.flush`: Effect may ask a dispatcher to run everything queued, at any moment. */
const flushReady = (state: WorldState): void => {
  const outcome = drainReady(state, eventCount(state) + flushTasksMax)
  assert(outcome === "idle", () => `a flush ran more than ${flushTasksMax} tasks: a fiber yields without end`)
}

const schedule = (state: WorldState, delayMs: number, callback: () => void): Timer => {
  assert(Number.isFinite(delayMs) && delayMs >= 0, () => `schedule takes a finite, non-negative delayMs (got ${delayMs})`)
  return state.timers.push(state.nowMs + delayMs, callback)
}

const stats = (state: WorldState): WorldStats => ({
  events: eventCount(state),
  tasks: state.tasks,
  timersFired: state.timersFired,
  timersPending: state.timers.size(),
  tasksReady: state.ready.size(),
  nowMs: state.nowMs
})

/** Marks the world as driven for the duration of `body`: a fiber must not drive its own world. */
const drive = <A>(state: WorldState, body: () => A): A => {
  assert(!state.driving, "the world is not driven re-entrantly (from inside one of its own fibers)")
  state.driving = true
  try {
    return body()
  } finally {
    state.driving = false
  }
}

/** Runs ready tasks until none is left ("idle"), `goal` is done, or `eventsEnd` is reached. */
const drainReady = (
  state: WorldState,
  eventsEnd: number,
  goal?: Fiber.Fiber<unknown, unknown>
): "idle" | "goal" | "events" => {
  while (state.ready.size() > 0) {
    if (goal !== undefined && goal.pollUnsafe() !== undefined) return "goal"
    if (eventCount(state) >= eventsEnd) return "events"
    state.tasks++
    state.ready.take()()
  }
  return "idle"
}

const fireNextTimer = (state: WorldState): void => {
  const timer = state.timers.pop()
  assert(timer !== undefined, "a timer is pending when one is fired")
  setNow(state, timer.atMs)
  state.timersFired++
  timer.fire()
}

const setNow = (state: WorldState, atMs: number): void => {
  assert(atMs >= state.nowMs, () => `virtual time never goes backwards (${atMs} < ${state.nowMs})`)
  state.nowMs = atMs
}

const budgetExceeded = (atMs: number, reason: "virtualMs" | "events"): BudgetExceeded => ({
  _tag: "BudgetExceeded",
  atMs,
  reason
})

const assertEventsMax = (eventsMax: number): void =>
  assert(Number.isInteger(eventsMax) && eventsMax >= 0, () => `eventsMax is a non-negative integer (got ${eventsMax})`)

const assertBudget = (budget: Budget): void => {
  assert(budget.virtualMsMax >= 0, () => `virtualMsMax is non-negative (got ${budget.virtualMsMax})`)
  assertEventsMax(budget.eventsMax)
}

/**
 * A Clock on virtual time. `sleep` mirrors Effect's own clock: a non-positive duration yields,
 * an infinite one never wakes, anything else (sub-millisecond included) is a timer.
 */
const makeVirtualClock = (state: WorldState): Clock.Clock => {
  const nowMs = () => state.nowMs
  // BigInt of a fractional number throws, and sub-millisecond sleeps make now fractional.
  const nowNanos = () => BigInt(Math.round(state.nowMs * 1_000_000))
  const sleep = (duration: Duration.Duration): Effect.Effect<void> => {
    const delayMs = Duration.toMillis(duration)
    assert(!Number.isNaN(delayMs), "a sleep lasts a number of milliseconds")
    if (delayMs <= 0) return Effect.yieldNow
    if (delayMs === Infinity) return Effect.never
    return Effect.callback<void>((resume) => {
      const timer = state.timers.push(state.nowMs + delayMs, () => resume(Effect.void))
      return Effect.sync(() => {
        state.timers.cancel(timer)
      })
    })
  }
  return {
    currentTimeMillisUnsafe: nowMs,
    currentTimeMillis: Effect.sync(nowMs),
    currentTimeNanosUnsafe: nowNanos,
    currentTimeNanos: Effect.sync(nowNanos),
    monotonicTimeNanosUnsafe: nowNanos,
    monotonicTimeNanos: Effect.sync(nowNanos),
    sleep
  }
}

/** Every fiber's dispatcher is the world's ready queue; yields follow Effect's op budget. */
const makeWorldScheduler = (ready: ReadyQueue, flush: () => void): Scheduler.Scheduler => {
  const dispatcher: Scheduler.SchedulerDispatcher = { scheduleTask: ready.push, flush }
  return {
    executionMode: "async",
    shouldYield: (fiber) => fiber.currentOpCount >= fiber.cache.maxOpsBeforeYield,
    makeDispatcher: () => dispatcher
  }
}

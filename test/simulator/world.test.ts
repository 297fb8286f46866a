// Goal: a world runs unmodified Effect code (sleep, timeout, Deferred, Queue, fibers) on virtual
// time: sleeps wake at exactly their deadline and in time order, timeouts fire at their instant,
// deadlocks and runaway loops end as named outcomes instead of hangs, and a seed replays exactly
// while different seeds (with shuffleReadyTasks) explore different interleavings.
// Method: each test builds a fresh world, runs a small program with an explicit budget and
// compares virtual times and logs. No real sleeps, no wall-clock thresholds.
import { fc, test } from "@fast-check/vitest"
import { Cause, Clock, Context, Deferred, Duration, Effect, Exit, Fiber, Queue } from "effect"
import { describe, expect } from "vitest"
import { makeStream } from "../../core/random.ts"
import { makeWorld, type RunResult } from "../../simulator/world.ts"

const budget = { virtualMsMax: 1e12, eventsMax: 1_000_000 }
const seedArbitrary = fc.integer({ min: 0, max: 0xffff_ffff })

/** The success value of a `Done` run; fails the test on any other outcome. */
const valueOf = <A, E>(result: RunResult<A, E>): A => {
  if (result._tag !== "Done") throw new Error(`expected Done, got ${JSON.stringify(result)}`)
  if (Exit.isFailure(result.exit)) throw new Error(`expected success, got ${Cause.pretty(result.exit.cause)}`)
  return result.exit.value
}

describe("virtual time", () => {
  test("Effect.sleep of an hour ends at 3,600,000 virtual ms in a handful of events", () => {
    const world = makeWorld({ seed: 1 })
    const atMs = valueOf(world.run(Effect.andThen(Effect.sleep("1 hour"), Clock.currentTimeMillis), budget))
    expect(atMs).toBe(3_600_000)
    expect(world.nowMs()).toBe(3_600_000)
    expect(world.stats().events).toBeLessThanOrEqual(3)
  })

  test.prop([seedArbitrary], { numRuns: 20 })(
    "1000 sleeping fibers wake in time order, each at exactly its deadline",
    (seed) => {
      const durations = makeStream(seed, "workload")
      const deadlinesMs = Array.from({ length: 1_000 }, () => durations.nextInt(10_000) / 4)
      const world = makeWorld({ seed, shuffleReadyTasks: seed % 2 === 0 })
      const woken: Array<{ readonly fiber: number; readonly atMs: number }> = []
      const sleeper = (fiber: number) =>
        Effect.andThen(Effect.sleep(Duration.millis(deadlinesMs[fiber])), Clock.currentTimeMillis).pipe(
          Effect.map((atMs) => woken.push({ fiber, atMs }))
        )
      valueOf(world.run(Effect.forEach(deadlinesMs, (_, fiber) => sleeper(fiber), { concurrency: "unbounded" }), budget))
      expect(woken).toHaveLength(1_000)
      for (let index = 1; index < woken.length; index++) {
        expect(woken[index].atMs).toBeGreaterThanOrEqual(woken[index - 1].atMs)
      }
      for (const { fiber, atMs } of woken) expect(atMs).toBe(deadlinesMs[fiber])
    }
  )

  test("Effect.timeout of a never-completing effect fails with TimeoutError at exactly 2000", () => {
    const world = makeWorld({ seed: 1 })
    const result = world.run(Effect.timeout(Effect.never, "2 seconds"), budget)
    expect(result._tag).toBe("Done")
    if (result._tag !== "Done") return
    expect(result.atMs).toBe(2_000)
    const failure = Exit.isFailure(result.exit) ? Cause.findErrorOption(result.exit.cause) : undefined
    expect(failure?._tag === "Some" && failure.value._tag).toBe("TimeoutError")
  })

  test("a Deferred completed late (5000) loses to its 2000 timeout, and the late timer is cancelled", () => {
    const world = makeWorld({ seed: 1 })
    const program = Effect.gen(function*() {
      const deferred = yield* Deferred.make<string>()
      yield* Effect.forkChild(Effect.andThen(Effect.sleep("5 seconds"), Deferred.succeed(deferred, "late")))
      const outcome = yield* Effect.flip(Effect.timeout(Deferred.await(deferred), "2 seconds"))
      return { tag: outcome._tag, atMs: yield* Clock.currentTimeMillis }
    })
    expect(valueOf(world.run(program, budget))).toEqual({ tag: "TimeoutError", atMs: 2_000 })
    expect(world.stats().timersPending).toBe(0)
  })

  test("Clock reads virtual time from startMs, in millis and nanos, sub-millisecond included", () => {
    const world = makeWorld({ seed: 1, startMs: 1_000 })
    const program = Effect.gen(function*() {
      const before = yield* Clock.currentTimeMillis
      yield* Effect.sleep(Duration.millis(0.5))
      return [before, yield* Clock.currentTimeMillis, yield* Clock.currentTimeNanos]
    })
    expect(valueOf(world.run(program, budget))).toEqual([1_000, 1_000.5, 1_000_500_000n])
  })

  test("advanceBy fires timers due exactly at the boundary and leaves now at the boundary", () => {
    const world = makeWorld({ seed: 1 })
    const woken: Array<number> = []
    world.fork(Effect.andThen(Effect.sleep(100), Clock.currentTimeMillis).pipe(Effect.map((atMs) => woken.push(atMs))))
    expect(world.advanceBy(99, { eventsMax: 100 })).toEqual({ _tag: "Advanced", atMs: 99 })
    expect(woken).toEqual([])
    expect(world.advanceBy(1, { eventsMax: 100 })).toEqual({ _tag: "Advanced", atMs: 100 })
    expect(woken).toEqual([100])
    expect(world.advanceBy(50, { eventsMax: 100 })).toEqual({ _tag: "Advanced", atMs: 150 })
    expect(world.nowMs()).toBe(150)
  })

  test("a plain JavaScript callback scheduled in the world completes a Deferred at its instant", () => {
    const world = makeWorld({ seed: 1 })
    const deferred = Deferred.makeUnsafe<number>()
    world.schedule(500, () => Deferred.doneUnsafe(deferred, Effect.succeed(42)))
    const program = Effect.all([Deferred.await(deferred), Clock.currentTimeMillis])
    expect(valueOf(world.run(program, budget))).toEqual([42, 500])
  })

  test("a Deferred completed from plain JavaScript between drives resumes the fiber; the driver runs what it forked", () => {
    const world = makeWorld({ seed: 1 })
    const deferred = Deferred.makeUnsafe<number>()
    const program = Effect.gen(function*() {
      const value = yield* Deferred.await(deferred)
      const child = yield* Effect.forkChild(Effect.as(Effect.sleep(5), value * 2))
      return yield* Fiber.join(child)
    })
    const fiber = world.fork(program)
    expect(world.runUntilDone(fiber, budget)).toEqual({ _tag: "Stuck", atMs: 0 })
    Deferred.doneUnsafe(deferred, Effect.succeed(21))
    expect(world.stats().tasksReady).toBe(1)
    expect(valueOf(world.runUntilDone(fiber, budget))).toBe(42)
    expect(world.nowMs()).toBe(5)
  })

  test("a cancelled scheduled callback never runs", () => {
    const world = makeWorld({ seed: 1 })
    const ran: Array<string> = []
    const dropped = world.schedule(10, () => ran.push("dropped"))
    world.schedule(20, () => ran.push("delivered"))
    expect(world.cancel(dropped)).toBe(true)
    expect(world.advanceBy(30, { eventsMax: 10 })).toEqual({ _tag: "Advanced", atMs: 30 })
    expect(ran).toEqual(["delivered"])
    expect(world.cancel(dropped)).toBe(false)
  })

  test("fibers forked with extra context see it, and still run on the world's clock", () => {
    class Greeting extends Context.Service<Greeting, { readonly text: string }>()("test/Greeting") {}
    const world = makeWorld({ seed: 1 })
    const program = Effect.gen(function*() {
      yield* Effect.sleep(10)
      return `${(yield* Greeting).text}@${yield* Clock.currentTimeMillis}`
    })
    const extra = Context.make(Greeting, Greeting.of({ text: "hello" }))
    expect(valueOf(world.run(program, budget, extra))).toBe("hello@10")
  })
})

describe("named outcomes instead of hangs", () => {
  test("awaiting a Deferred that nobody completes is Stuck", () => {
    const world = makeWorld({ seed: 1 })
    const program = Effect.andThen(Effect.sleep(30), Effect.flatMap(Deferred.make<void>(), Deferred.await))
    expect(world.run(program, budget)).toEqual({ _tag: "Stuck", atMs: 30 })
  })

  test("an infinite sleep never fires: Stuck", () => {
    const world = makeWorld({ seed: 1 })
    expect(world.run(Effect.sleep(Duration.infinity), budget)).toEqual({ _tag: "Stuck", atMs: 0 })
  })

  test("a runaway sleep loop exceeds the virtual-time budget at its boundary", () => {
    const world = makeWorld({ seed: 1 })
    const result = world.run(Effect.forever(Effect.sleep("1 millis")), { virtualMsMax: 1_000, eventsMax: 1_000_000 })
    expect(result).toEqual({ _tag: "BudgetExceeded", atMs: 1_000, reason: "virtualMs" })
  })

  test("a busy loop that never sleeps exceeds the events budget without moving time", () => {
    const world = makeWorld({ seed: 1 })
    const result = world.run(Effect.forever(Effect.void), { virtualMsMax: 1_000, eventsMax: 500 })
    expect(result).toEqual({ _tag: "BudgetExceeded", atMs: 0, reason: "events" })
    expect(world.stats().events).toBe(500)
  })

  test("scheduling past timersMax kills the fiber with an InvariantViolation defect", () => {
    const world = makeWorld({ seed: 1, timersMax: 10 })
    const result = world.run(Effect.forEach(Array.from({ length: 20 }, (_, index) => index), () => Effect.sleep(5), {
      concurrency: "unbounded"
    }), budget)
    expect(result._tag).toBe("Done")
    if (result._tag !== "Done" || Exit.isSuccess(result.exit)) throw new Error("expected a defect")
    expect(Cause.pretty(result.exit.cause)).toMatch(/InvariantViolation[\s\S]*timersMax=10/)
  })

  test("a fiber cannot drive its own world", () => {
    const world = makeWorld({ seed: 1 })
    // After a sleep, so the call comes from a timer the driver fires (fork runs the first slice inline).
    const result = world.run(Effect.andThen(Effect.sleep(1), Effect.sync(() => world.runReady({ eventsMax: 10 }))), budget)
    if (result._tag !== "Done" || Exit.isSuccess(result.exit)) throw new Error("expected a defect")
    expect(Cause.pretty(result.exit.cause)).toMatch(/InvariantViolation[\s\S]*re-entrantly/)
  })
})

describe("scheduling", () => {
  /** Eight fibers that meet at equal instants and yield between their log entries. */
  const equalInstants = (log: Array<string>) =>
    Effect.forEach(Array.from({ length: 8 }, (_, id) => id), (id) =>
      Effect.gen(function*() {
        for (let round = 0; round < 4; round++) {
          yield* Effect.sleep(10)
          log.push(`${id}:${round}`)
          yield* Effect.yieldNow
          log.push(`${id}:${round}'`)
        }
      }), { concurrency: "unbounded", discard: true })

  const logFor = (seed: number, shuffleReadyTasks: boolean) => {
    const log: Array<string> = []
    valueOf(makeWorld({ seed, shuffleReadyTasks }).run(equalInstants(log), budget))
    return log.join(" ")
  }

  test.prop([seedArbitrary, fc.boolean()], { numRuns: 30 })(
    "the same seed gives the same log",
    (seed, shuffleReadyTasks) => {
      expect(logFor(seed, shuffleReadyTasks)).toBe(logFor(seed, shuffleReadyTasks))
    }
  )

  test("with shuffleReadyTasks, different seeds give different interleavings", () => {
    const logs = new Set(Array.from({ length: 8 }, (_, seed) => logFor(seed, true)))
    expect(logs.size).toBeGreaterThanOrEqual(2)
  })

  test("without shuffleReadyTasks, every seed gives the FIFO interleaving", () => {
    const logs = new Set(Array.from({ length: 8 }, (_, seed) => logFor(seed, false)))
    expect(logs.size).toBe(1)
  })

  test.prop([seedArbitrary, fc.boolean()], { numRuns: 20 })(
    "a lower priority number runs first, shuffled or not",
    (seed, shuffleReadyTasks) => {
      const world = makeWorld({ seed, shuffleReadyTasks })
      const dispatcher = world.scheduler.makeDispatcher()
      const ran: Array<number> = []
      for (const priority of [2, 0, 1, 0, 2, 1]) dispatcher.scheduleTask(() => ran.push(priority), priority)
      expect(world.runReady({ eventsMax: 10 })).toEqual({ _tag: "Drained", tasks: 6 })
      expect(ran).toEqual([0, 0, 1, 1, 2, 2])
    }
  )

  test.prop([seedArbitrary], { numRuns: 10 })(
    "fibers ping-pong through Queues and Deferreds to completion under any seed",
    (seed) => {
      const world = makeWorld({ seed, shuffleReadyTasks: true })
      const program = Effect.gen(function*() {
        const requests = yield* Queue.bounded<Deferred.Deferred<number>>(4)
        const server = yield* Effect.forkChild(Effect.forever(
          Effect.flatMap(Queue.take(requests), (reply) => Effect.andThen(Effect.sleep(3), Deferred.succeed(reply, 1)))
        ))
        const client = Effect.gen(function*() {
          let total = 0
          for (let round = 0; round < 25; round++) {
            const reply = yield* Deferred.make<number>()
            yield* Queue.offer(requests, reply)
            total += yield* Deferred.await(reply)
          }
          return total
        })
        const totals = yield* Effect.all(Array.from({ length: 8 }, () => client), { concurrency: "unbounded" })
        yield* Fiber.interrupt(server)
        return totals
      })
      expect(valueOf(world.run(program, budget))).toEqual(Array.from({ length: 8 }, () => 25))
      expect(world.nowMs()).toBe(8 * 25 * 3)
    }
  )
})

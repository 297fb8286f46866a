/**
 * Throughput of the simulator world, in events per wall second (printed, never asserted: the
 * machine is noisy). Run: `npx tsx bench/simulator-world.bench.ts`.
 *
 * - `sleep loop`: one fiber sleeping 1 ms, 100k times: the cost of one timer through Effect.
 * - `deferred ping-pong`: 8 fibers in 4 pairs handing a fresh Deferred back and forth. Effect
 *   resumes a Deferred's waiter inline, so a plain hand-off is no world event at all; the
 *   `+ yieldNow` variant yields after each hand-off, so every hand-off is one ready task.
 */
import { Deferred, Effect } from "effect"
import { makeWorld } from "../simulator/world.ts"

const budget = { virtualMsMax: 1e12, eventsMax: 1e9 }

const sleepLoop = (sleeps: number) =>
  Effect.gen(function*() {
    for (let index = 0; index < sleeps; index++) yield* Effect.sleep(1)
  })

interface Ping {
  readonly pong: Deferred.Deferred<void>
  readonly next: Deferred.Deferred<Ping>
}

/** A pair exchanges `rounds` pings and pongs; each ping carries the next round's Deferreds. */
const pingPongPair = (rounds: number, yieldEach: boolean) =>
  Effect.gen(function*() {
    const pause = yieldEach ? Effect.yieldNow : Effect.void
    const first = yield* Deferred.make<Ping>()
    const ponger = Effect.gen(function*() {
      let ping = first
      for (let round = 0; round < rounds; round++) {
        const { pong, next } = yield* Deferred.await(ping)
        yield* pause
        yield* Deferred.succeed(pong, undefined)
        ping = next
      }
    })
    const pinger = Effect.gen(function*() {
      let ping = first
      for (let round = 0; round < rounds; round++) {
        const message: Ping = { pong: yield* Deferred.make<void>(), next: yield* Deferred.make<Ping>() }
        yield* Deferred.succeed(ping, message)
        yield* Deferred.await(message.pong)
        yield* pause
        ping = message.next
      }
    })
    yield* Effect.all([ponger, pinger], { concurrency: "unbounded", discard: true })
  })

/** Runs `program` in a fresh world; returns wall ms and the world's event count. */
const measureOnce = (program: Effect.Effect<unknown>) => {
  const world = makeWorld({ seed: 1 })
  const startedMs = performance.now()
  const result = world.run(program, budget)
  const wallMs = performance.now() - startedMs
  if (result._tag !== "Done") throw new Error(`benchmark run ended ${result._tag}`)
  return { wallMs, events: world.stats().events }
}

const repeats = 9

/** Prints the median over `repeats` runs (the first run, while the JIT warms, included). */
const measure = (name: string, steps: number, makeProgram: () => Effect.Effect<unknown>) => {
  const runs = Array.from({ length: repeats }, () => measureOnce(makeProgram()))
  runs.sort((left, right) => left.wallMs - right.wallMs)
  const { wallMs, events } = runs[repeats >> 1]
  const perSecond = (count: number) => Math.round(count / (wallMs / 1000)).toLocaleString("en")
  console.log(
    `${name}: median ${wallMs.toFixed(0)} ms wall (min ${runs[0].wallMs.toFixed(0)}), ` +
      `${events} events = ${perSecond(events)} events/s, ${perSecond(steps)} steps/s`
  )
}

const rounds = 25_000
measure("sleep loop, 100k sleeps", 100_000, () => sleepLoop(100_000))
measure("deferred ping-pong, 8 fibers, 200k hand-offs", 4 * rounds * 2, () =>
  Effect.all(Array.from({ length: 4 }, () => pingPongPair(rounds, false)), { concurrency: "unbounded" }))
measure("deferred ping-pong + yieldNow, 8 fibers, 200k hand-offs", 4 * rounds * 2, () =>
  Effect.all(Array.from({ length: 4 }, () => pingPongPair(rounds, true)), { concurrency: "unbounded" }))

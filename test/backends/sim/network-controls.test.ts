/**
 * Goal: the network's run-time controls do what they say: a swizzle clogs some links while it
 * runs, ends with every link unclogged, loses no message, and replays from its seed;
 * `healNetwork` unclogs everything and zeroes every probability but keeps delays; `configure`
 * changes only the links and fields it names.
 * Method: fast-check properties over seeds and world sizes, examples for heal and configure.
 * Each test runs in a virtual-time world (transport-harness.ts).
 */
import { fc, test } from "@fast-check/vitest"
import { Effect, Fiber } from "effect"
import { describe, expect } from "vitest"
import { advance, listLoras, makeHarness, repliesOf, runSim, settle } from "./transport-harness.ts"

describe("swizzle", () => {
  test.prop([fc.integer({ min: 1, max: 5 }), fc.nat(), fc.integer({ min: 0, max: 20 })])(
    "a swizzle clogs links while it runs, ends with every link unclogged, and loses no reply",
    (worldSize, seed, gapMsMax) => {
      runSim(Effect.gen(function* () {
        const harness = yield* makeHarness({ worldSize, seed })
        const ranks = Array.from({ length: worldSize }, (_, rank) => rank)
        const swizzle = yield* Effect.forkChild(harness.network.swizzle({ gapMsMax }))
        yield* Effect.yieldNow
        expect((yield* harness.network.links()).some((link) => link.clogged)).toBe(true)
        for (let waveId = 1; waveId <= 10; waveId++) {
          yield* harness.send(waveId, listLoras, ranks)
          yield* advance(1)
        }
        yield* Fiber.join(swizzle)
        yield* settle
        expect((yield* harness.network.links()).every((link) => !link.clogged && link.inFlight === 0)).toBe(true)
        for (const rank of ranks) expect(repliesOf(harness.events, rank).map((reply) => reply.waveId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      }), seed)
    })

  test.prop([fc.integer({ min: 1, max: 5 }), fc.nat()])("a seed replays the same swizzle", (worldSize, seed) => {
    const clogTrace = () => runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ worldSize, seed })
      const trace: Array<string> = []
      const swizzle = yield* Effect.forkChild(harness.network.swizzle())
      for (let step = 0; step < 200 && swizzle.pollUnsafe() === undefined; step++) {
        const clogged = (yield* harness.network.links()).filter((link) => link.clogged).map((link) => `${link.rank}${link.direction[2]}`)
        trace.push(clogged.join(","))
        yield* advance(0.5)
      }
      return trace
    }), seed)
    expect(clogTrace()).toEqual(clogTrace())
  })

  test("an interrupted swizzle leaves no link of its own clogged", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ worldSize: 4, seed: 3 })
      const swizzle = yield* Effect.forkChild(harness.network.swizzle({ gapMsMax: 50 }))
      yield* advance(1)
      yield* Fiber.interrupt(swizzle)
      expect((yield* harness.network.links()).every((link) => !link.clogged)).toBe(true)
    }))
  })
})

describe("heal and configure", () => {
  test("healNetwork unclogs every link and zeroes every probability, keeping delays", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({
        network: { reply: { delayMs: { kind: "fixed", ms: 5 }, dropProbability: 1, duplicateProbability: 0.5, reorderProbability: 0.5 } }
      })
      yield* harness.network.clog(0)
      yield* harness.network.clog(1, "request")
      yield* harness.network.heal()
      for (const link of yield* harness.network.links()) {
        expect(link.clogged).toBe(false)
        expect(link.config).toMatchObject({ dropProbability: 0, duplicateProbability: 0, reorderProbability: 0 })
        expect(link.config.delayMs).toEqual(link.direction === "reply" ? { kind: "fixed", ms: 5 } : { kind: "fixed", ms: 0 })
      }
      yield* harness.send(1, listLoras, [0, 1])
      yield* advance(4)
      expect(harness.events).toEqual([])
      yield* advance(1)
      expect(harness.events).toHaveLength(2)
    }))
  })

  test("configure changes only the links and fields it names, and refuses a malformed setting", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ network: { request: { delayMs: { kind: "fixed", ms: 2 } } } })
      yield* harness.network.configure({ links: [{ rank: 1, direction: "reply", config: { dropProbability: 1 } }] })
      const links = yield* harness.network.links()
      expect(links.map((link) => [link.rank, link.direction, link.config.dropProbability, link.config.delayMs])).toEqual([
        [0, "request", 0, { kind: "fixed", ms: 2 }], [0, "reply", 0, { kind: "fixed", ms: 0 }],
        [1, "request", 0, { kind: "fixed", ms: 2 }], [1, "reply", 1, { kind: "fixed", ms: 0 }]
      ])
      yield* harness.send(1, listLoras, [0, 1])
      yield* settle
      expect([repliesOf(harness.events, 0).length, repliesOf(harness.events, 1).length]).toEqual([1, 0])
      const refused = yield* Effect.flip(harness.network.configure({ reply: { dropProbability: 2 } }))
      expect(refused).toMatchObject({ _tag: "InvalidNetworkConfig", field: "reply.dropProbability" })
    }))
  })
})

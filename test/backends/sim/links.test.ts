/**
 * Goal: the simulated network between the executor and its ranks delivers as its fault model
 * says: a clogged link holds its messages and releases them in send order, a dropped message
 * never arrives, delays keep a link's order unless it reorders, a rank's exit is reported
 * across any link, exactly once, with nothing of the rank after it, and a message still in flight
 * when the cluster's scope closes never arrives.
 * Method: examples for each link effect, and fast-check properties over random network
 * configurations and scripts of sends, signals, clogs and clock advances. Each test runs in a
 * virtual-time world (transport-harness.ts), which runs every ready task before it moves time.
 */
import { fc, test } from "@fast-check/vitest"
import { Effect, Exit, Scope } from "effect"
import { describe, expect } from "vitest"
import type { StopSignal } from "../../../core/transport.ts"
import type { WorkerCall } from "../../../core/worker.ts"
import type { FaultSpec } from "../../../backends/sim/faults.ts"
import type { NetworkConfig } from "../../../backends/sim/network.ts"
import { delayArbitrary, linkArbitrary } from "./network-arbitraries.ts"
import {
  addLora, advance, eventsOf, exitsOf, listLoras, makeHarness, repliesOf, runSim, settle
} from "./transport-harness.ts"
import { makeWorld } from "../../../simulator/world.ts"

const pointCount = (points: ReadonlyArray<{ point: string; fired: number }>, point: string) =>
  points.filter((count) => count.point === point).reduce((total, count) => total + count.fired, 0)

describe("clogged links", () => {
  test("a clogged reply link holds replies until unclog, then delivers them in send order", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness()
      yield* harness.network.clog(1, "reply")
      for (let waveId = 1; waveId <= 5; waveId++) yield* harness.send(waveId, listLoras, [0, 1])
      yield* harness.send(6, addLora, [1])
      yield* settle
      expect(repliesOf(harness.events, 0).map((reply) => reply.waveId)).toEqual([1, 2, 3, 4, 5])
      expect(repliesOf(harness.events, 1)).toEqual([])
      expect(harness.workers[1].truth().loras).toEqual([3])
      expect(pointCount(harness.points.counts(), "net.clog.held")).toBe(6)
      yield* harness.network.unclog(1)
      yield* settle
      expect(repliesOf(harness.events, 1).map((reply) => reply.waveId)).toEqual([1, 2, 3, 4, 5, 6])
    }))
  })

  test("a clogged request link holds calls: the rank applies nothing until unclog", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness()
      yield* harness.network.clog(1, "request")
      expect(yield* harness.send(1, addLora, [0, 1])).toEqual([])
      yield* settle
      expect(harness.workers.map((worker) => worker.truth().loras)).toEqual([[3], []])
      yield* harness.network.unclog(1)
      yield* settle
      expect(harness.workers[1].truth().loras).toEqual([3])
      expect(repliesOf(harness.events, 1).map((reply) => reply.waveId)).toEqual([1])
    }))
  })

  test("an exit is delivered across a clogged link, and the replies it held are discarded", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 1, method: "addLora", kind: "crashAfterApply" }] })
      yield* harness.network.clog(1)
      yield* harness.network.clog(0, "request")
      yield* harness.send(1, listLoras, [1])
      yield* harness.send(2, addLora, [0, 1])
      yield* settle
      // The requests to rank 1 are held too: nothing reached it, so nothing crashed it yet.
      expect(harness.events).toEqual([])
      yield* harness.network.unclog(1)
      yield* harness.network.clog(1, "reply")
      yield* settle
      expect(eventsOf(harness.events, 1)).toEqual([
        { _tag: "Exited", rank: 1, exit: { code: 1, signal: null, reason: "crashed after applying addLora (injected)" } }
      ])
      expect(pointCount(harness.points.counts(), "net.reply.afterExit")).toBe(1)
      yield* harness.transport.signal(0, "kill")
      yield* settle
      expect(exitsOf(harness.events, 0)).toHaveLength(1)
      yield* harness.network.unclog(0)
      yield* harness.network.unclog(1)
      yield* settle
      expect(eventsOf(harness.events, 0).map((event) => event._tag)).toEqual(["Exited"])
      expect(eventsOf(harness.events, 1).map((event) => event._tag)).toEqual(["Exited"])
      expect(pointCount(harness.points.counts(), "net.request.afterExit")).toBe(1)
    }))
  })
})

describe("lossy and slow links", () => {
  test("a dropped request is never applied; a dropped reply is applied but never delivered", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({
        network: { links: [{ rank: 0, direction: "request", config: { dropProbability: 1 } }, { rank: 1, direction: "reply", config: { dropProbability: 1 } }] }
      })
      expect(yield* harness.send(1, addLora, [0, 1])).toEqual([])
      yield* settle
      expect(harness.events).toEqual([])
      expect(harness.workers.map((worker) => worker.truth().loras)).toEqual([[], [3]])
      expect(harness.points.counts().map((count) => [count.point, count.rank, count.method])).toEqual([
        ["net.reply.drop", 1, "addLora"], ["net.request.drop", 0, "addLora"]
      ])
    }))
  })

  test.prop([delayArbitrary, fc.nat(), fc.array(fc.nat(5), { minLength: 1, maxLength: 12 })])(
    "without reordering, a delayed link keeps each rank's replies in send order",
    (delayMs, seed, gapsMs) => {
      runSim(Effect.gen(function* () {
        const harness = yield* makeHarness({ seed, network: { request: { delayMs }, reply: { delayMs } } })
        for (const [index, gapMs] of gapsMs.entries()) {
          yield* harness.send(index + 1, listLoras, [0, 1])
          yield* advance(gapMs)
        }
        yield* settle
        const sent = gapsMs.map((_, index) => index + 1)
        for (const rank of [0, 1]) expect(repliesOf(harness.events, rank).map((reply) => reply.waveId)).toEqual(sent)
      }))
    })
})

// ---------------------------------------------------------------------------------------------
// Exit ordering under random networks and scripts.
// ---------------------------------------------------------------------------------------------

type Action =
  | { readonly _tag: "send"; readonly call: WorkerCall; readonly ranks: ReadonlyArray<number> }
  | { readonly _tag: "signal"; readonly rank: number; readonly signal: StopSignal }
  | { readonly _tag: "clog"; readonly rank: number }
  | { readonly _tag: "unclog"; readonly rank: number }
  | { readonly _tag: "advance"; readonly millis: number }

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    _tag: fc.constant("send" as const),
    call: fc.constantFrom<WorkerCall>({ method: "load" }, listLoras, addLora, { method: "shutdown" }),
    ranks: fc.subarray([0, 1, 2])
  }),
  fc.record({ _tag: fc.constant("signal" as const), rank: fc.nat(2), signal: fc.constantFrom<StopSignal>("terminate", "kill") }),
  fc.record({ _tag: fc.constantFrom("clog" as const, "unclog" as const), rank: fc.nat(2) }),
  fc.record({ _tag: fc.constant("advance" as const), millis: fc.integer({ min: 0, max: 8 }) })
)

const faultArbitrary: fc.Arbitrary<FaultSpec> = fc.oneof(
  fc.record({
    rank: fc.nat(2),
    method: fc.constantFrom("addLora" as const, "listLoras" as const),
    kind: fc.constantFrom("crashAfterApply" as const, "crashBeforeApply" as const, "dropReply" as const, "duplicateReply" as const)
  }),
  fc.record({ rank: fc.nat(2), kind: fc.constantFrom("ignoreTerminate" as const, "crashDuringShutdown" as const) })
)

const networkArbitrary: fc.Arbitrary<NetworkConfig> = fc.record({ request: linkArbitrary, reply: linkArbitrary })

describe("exits under random networks", () => {
  test.prop([fc.array(actionArbitrary, { maxLength: 25 }), fc.array(faultArbitrary, { maxLength: 3 }), networkArbitrary, fc.nat()])(
    "a rank's Exited is emitted exactly once if it exited, as its last event, whatever the network did",
    (script, faults, network, seed) => {
      runSim(Effect.gen(function* () {
        const harness = yield* makeHarness({ worldSize: 3, faults, network, seed })
        let waveId = 0
        for (const action of script) {
          if (action._tag === "send") yield* harness.send(++waveId, action.call, action.ranks)
          if (action._tag === "signal") yield* harness.transport.signal(action.rank, action.signal)
          if (action._tag === "clog") yield* harness.network.clog(action.rank)
          if (action._tag === "unclog") yield* harness.network.unclog(action.rank)
          if (action._tag === "advance") yield* advance(action.millis)
        }
        yield* settle
        for (let rank = 0; rank < 3; rank++) {
          const mine = eventsOf(harness.events, rank)
          const exitIndex = mine.findIndex((event) => event._tag === "Exited")
          expect(exitsOf(mine, rank).length).toBe(harness.exitOf(rank) === null ? 0 : 1)
          if (exitIndex >= 0) expect(exitIndex).toBe(mine.length - 1)
        }
      }))
    })
})

describe("delayed messages and the cluster's scope", () => {
  test("a reply still in flight when the cluster's scope closes is never delivered, and its world timer is gone", () => {
    const world = makeWorld({ seed: 3 })
    const scope = Scope.makeUnsafe()
    const started = world.run(Effect.gen(function* () {
      const harness = yield* makeHarness({ network: { reply: { delayMs: { kind: "fixed", ms: 100 } } } })
      yield* harness.send(1, listLoras, [0, 1])
      yield* advance(10)
      // The replies are in flight on world timers (due at 100 ms), not in fibers.
      return harness
    }).pipe(Effect.provideService(Scope.Scope, scope)), { virtualMsMax: 1_000, eventsMax: 100_000 })
    if (started._tag !== "Done" || started.exit._tag !== "Success") throw new Error(`start ended ${started._tag}`)
    const harness = started.exit.value
    expect(repliesOf(harness.events, 0)).toEqual([])
    const pendingBefore = world.stats().timersPending
    expect(pendingBefore).toBeGreaterThanOrEqual(2)
    world.run(Scope.close(scope, Exit.void), { virtualMsMax: 1_000, eventsMax: 100_000 })
    expect(world.stats().timersPending).toBe(pendingBefore - 2)
    world.advanceBy(1_000, { eventsMax: 100_000 })
    expect(repliesOf(harness.events, 0)).toEqual([])
    expect(repliesOf(harness.events, 1)).toEqual([])
  })
})

/**
 * Goal: a simulated cluster wires ranks, faults and transport together, and its handle tells
 * the truth: definite answers (Ok, Failed) match what each rank really holds, a handle kill
 * respects `unkillable`, malformed fault plans, rules and network settings are refused with the
 * field named, and the layer provides both RankTransport and SimCluster.
 * Method: fast-check properties over random fault plans against ground truth read from the
 * handle, plus examples for the handle's operations. Virtual time comes from TestClock.
 */
import { fc, test } from "@fast-check/vitest"
import { Effect, Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import { RankTransport, type TransportEvent } from "../../../core/transport.ts"
import { SimCluster, layerSimCluster, makeSimCluster, type SimClusterOptions } from "../../../backends/sim/cluster.ts"
import type { FaultSpec } from "../../../backends/sim/faults.ts"

const runSim = <A, E>(program: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(TestClock.layer())))

const settle = TestClock.adjust("10 seconds")

const makeRecorded = (options: SimClusterOptions) =>
  Effect.gen(function* () {
    const cluster = yield* makeSimCluster(options)
    const events: Array<TransportEvent> = []
    yield* cluster.transport.listen((event) => events.push(event))
    return { ...cluster, events }
  })

describe("simulated cluster", () => {
  test.prop([
    fc.integer({ min: 1, max: 4 }),
    fc.array(fc.record({
      rank: fc.nat(3),
      kind: fc.constantFrom("throw" as const, "crashBeforeApply" as const, "crashAfterApply" as const)
    }), { maxLength: 3 })
  ])("after addLora, a rank that answered Ok holds the adapter and one that answered Failed does not", async (worldSize, plan) => {
    const faults: ReadonlyArray<FaultSpec> = plan
      .filter((fault) => fault.rank < worldSize)
      .map((fault) => ({ ...fault, method: "addLora" as const }))
    await runSim(Effect.gen(function* () {
      const { transport, handle, events } = yield* makeRecorded({ worldSize, model: {}, faults })
      const ranks = Array.from({ length: worldSize }, (_, rank) => rank)
      yield* transport.send({ waveId: 1, call: { method: "addLora", adapter: { id: 4, name: "style" } } }, ranks)
      yield* settle
      const truth = yield* handle.truth()
      for (const event of events) {
        if (event._tag !== "Reply") continue
        const holds = truth[event.reply.rank].loras.includes(4)
        expect(holds).toBe(event.reply.result._tag === "Ok")
      }
      for (const rank of ranks) {
        const exited = events.some((event) => event._tag === "Exited" && event.rank === rank)
        expect(truth[rank].alive).toBe(!exited)
      }
    }))
  })

  test("truth shows the adapter on a rank that crashed after applying it, with its exit", async () => {
    await runSim(Effect.gen(function* () {
      const { transport, handle } = yield* makeRecorded({
        worldSize: 2, model: {}, faults: [{ rank: 1, method: "addLora", kind: "crashAfterApply" }]
      })
      yield* transport.send({ waveId: 1, call: { method: "addLora", adapter: { id: 2, name: "style" } } }, [0, 1])
      yield* settle
      const truth = yield* handle.truth()
      expect(truth.map((rank) => [rank.rank, rank.alive, rank.loras])).toEqual([[0, true, [2]], [1, false, [2]]])
      expect(truth[1].exit).toEqual({ code: 1, signal: null, reason: "crashed after applying addLora (injected)" })
      expect(yield* handle.faultCounts()).toEqual([{ rank: 1, method: "addLora", kind: "crashAfterApply", fired: 1 }])
    }))
  })

  test("a handle kill respects unkillable until heal, as a real SIGKILL would", async () => {
    await runSim(Effect.gen(function* () {
      const { handle, events } = yield* makeRecorded({ worldSize: 2, model: {}, faults: [{ rank: 0, kind: "unkillable" }] })
      yield* handle.kill(0)
      yield* handle.kill(1)
      yield* settle
      expect((yield* handle.truth()).map((rank) => rank.alive)).toEqual([true, false])
      yield* handle.heal()
      yield* handle.kill(0)
      yield* settle
      expect(events.filter((event) => event._tag === "Exited").map((event) => event._tag === "Exited" && event.rank)).toEqual([1, 0])
    }))
  })

  test("a malformed fault plan is refused with the field named", async () => {
    const refused = await runSim(Effect.flip(makeSimCluster({
      worldSize: 2, model: {}, faults: [{ rank: 0, kind: "throw" }]
    })))
    expect(refused).toMatchObject({ _tag: "InvalidFaultSpec", field: "method" })
    const outside = await runSim(Effect.gen(function* () {
      const { handle } = yield* makeSimCluster({ worldSize: 2, model: {} })
      return yield* Effect.flip(handle.inject({ rank: 2, method: "load", kind: "throw" }))
    }))
    expect(outside).toMatchObject({ _tag: "InvalidFaultSpec", field: "rank" })
  })

  test("a malformed rule or network setting is refused with the field named, at build and at run time", async () => {
    const badRule = await runSim(Effect.flip(makeSimCluster({
      worldSize: 2, model: {}, rules: [{ kind: "oomOnWake", method: "load", probability: 0.5 }]
    })))
    expect(badRule).toMatchObject({ _tag: "InvalidFaultSpec", field: "method" })
    const badNetwork = await runSim(Effect.flip(makeSimCluster({
      worldSize: 2, model: {}, network: { links: [{ rank: 2, config: {} }] }
    })))
    expect(badNetwork).toMatchObject({ _tag: "InvalidNetworkConfig", field: "links.0.rank" })
    const refused = await runSim(Effect.gen(function* () {
      const { handle } = yield* makeSimCluster({ worldSize: 2, model: {} })
      return yield* Effect.all([
        Effect.flip(handle.addRule({ kind: "throw", ranks: [5], probability: 0.5 })),
        Effect.flip(handle.configureNetwork({ request: { delayMs: { kind: "uniform", minMs: 3, maxMs: 1 } } }))
      ])
    }))
    expect(refused).toMatchObject([
      { _tag: "InvalidFaultSpec", field: "ranks.0" },
      { _tag: "InvalidNetworkConfig", field: "request.delayMs.maxMs" }
    ])
  })

  test("an injected fault fires on the next matching call", async () => {
    await runSim(Effect.gen(function* () {
      const { transport, handle, events } = yield* makeRecorded({ worldSize: 2, model: {} })
      yield* handle.inject({ rank: 1, method: "listLoras", kind: "throw", count: 1 })
      yield* transport.send({ waveId: 1, call: { method: "listLoras" } }, [0, 1])
      yield* transport.send({ waveId: 2, call: { method: "listLoras" } }, [1])
      yield* settle
      const rankOne = events.flatMap((event) => event._tag === "Reply" && event.reply.rank === 1 ? [event.reply.result._tag] : [])
      expect(rankOne).toEqual(["Failed", "Ok"])
    }))
  })

  test("the layer provides RankTransport and SimCluster over the same ranks", async () => {
    const program = Effect.gen(function* () {
      const transport = yield* RankTransport
      const handle = yield* SimCluster
      const events: Array<TransportEvent> = []
      yield* transport.listen((event) => events.push(event))
      yield* transport.send({ waveId: 1, call: { method: "load" } }, [0, 1, 2])
      yield* settle
      return { worldSize: transport.worldSize, replies: events.length, truth: yield* handle.truth() }
    })
    const result = await Effect.runPromise(program.pipe(
      Effect.provide(layerSimCluster({ worldSize: 3, model: { weightsBytes: 1000, kvCacheBytes: 24 } })),
      Effect.provide(TestClock.layer())))
    expect(result.worldSize).toBe(3)
    expect(result.replies).toBe(3)
    expect(result.truth.map((rank) => rank.usedBytes)).toEqual([1024, 1024, 1024])
  })
})

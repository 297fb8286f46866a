/**
 * Goal: the in-memory transport behaves like rank processes behind a real channel: replies carry
 * their wave id and rank, a rank serves its messages one at a time (so a hang blocks it), each
 * injected fault does what the fault model says, signals respect ignoreTerminate and unkillable,
 * and a rank's Exited event is emitted once and is the last event of that rank.
 * Method: example tests for each fault kind and signal, and fast-check properties over random
 * scripts of sends, signals and clock advances. Virtual time comes from TestClock: work is forked
 * by the transport itself, and the test advances the clock to let it run.
 */
import { fc, test } from "@fast-check/vitest"
import { Effect, Scope } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import type { StopSignal, TransportEvent } from "../../../core/transport.ts"
import type { WorkerCall } from "../../../core/worker.ts"
import { makeFaultBook } from "../../../backends/sim/fault-book.ts"
import type { FaultSpec } from "../../../backends/sim/faults.ts"
import { makeSimulatedWorker } from "../../../backends/sim/model.ts"
import { makeSimTransport } from "../../../backends/sim/transport.ts"

const runSim = <A, E>(program: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(TestClock.layer())))

const settle = TestClock.adjust("10 seconds")

interface Harness {
  readonly worldSize?: number
  readonly faults?: ReadonlyArray<FaultSpec>
  readonly replyDelayMs?: number
  readonly mailboxCapacity?: number
  readonly stepMs?: number
  readonly listen?: boolean
}

/** Builds workers, a fault book and the transport, and records every event in order. */
const makeHarness = (options: Harness = {}) =>
  Effect.gen(function* () {
    const worldSize = options.worldSize ?? 2
    const workers = Array.from({ length: worldSize }, (_, rank) =>
      makeSimulatedWorker({ rank, worldSize, outputRank: 0, stepMs: options.stepMs ?? 1 }))
    const book = makeFaultBook(worldSize, options.faults ?? [])
    const sim = yield* makeSimTransport({
      workers, book, replyDelayMs: options.replyDelayMs, mailboxCapacity: options.mailboxCapacity
    })
    const events: Array<TransportEvent> = []
    if (options.listen ?? true) yield* sim.transport.listen((event) => events.push(event))
    const send = (waveId: number, call: WorkerCall, ranks: ReadonlyArray<number>) =>
      sim.transport.send({ waveId, call }, ranks)
    return { ...sim, workers, book, events, send }
  })

const repliesOf = (events: ReadonlyArray<TransportEvent>, rank: number) =>
  events.flatMap((event) => event._tag === "Reply" && event.reply.rank === rank ? [event.reply] : [])
const exitsOf = (events: ReadonlyArray<TransportEvent>, rank: number) =>
  events.filter((event) => event._tag === "Exited" && event.rank === rank)

const addLora: WorkerCall = { method: "addLora", adapter: { id: 3, name: "style" } }
const listLoras: WorkerCall = { method: "listLoras" }

describe("simulated transport", () => {
  test.prop([
    fc.integer({ min: 1, max: 4 }),
    fc.constantFrom(0, 3),
    fc.array(fc.tuple(fc.constantFrom<WorkerCall>(listLoras, { method: "checkHealth" }, { method: "load" }), fc.array(fc.nat(3))), { maxLength: 8 })
  ])("every reply carries its wave id and rank: one per targeted rank, in send order", async (worldSize, replyDelayMs, waves) => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ worldSize, replyDelayMs })
      const targeted = waves.map(([call, ranks], waveId) => {
        const distinct = [...new Set(ranks.map((rank) => rank % worldSize))]
        return { waveId, call, ranks: distinct }
      })
      for (const wave of targeted) expect(yield* harness.send(wave.waveId, wave.call, wave.ranks)).toEqual([])
      yield* settle
      for (let rank = 0; rank < worldSize; rank++) {
        const expected = targeted.filter((wave) => wave.ranks.includes(rank)).map((wave) => wave.waveId)
        expect(repliesOf(harness.events, rank).map((reply) => reply.waveId)).toEqual(expected)
      }
    }))
  })

  test("a hang blocks the rank's later messages until heal; then both apply, in order", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 1, method: "addLora", kind: "hang", count: 1 }] })
      yield* harness.send(1, addLora, [0, 1])
      yield* harness.send(2, listLoras, [0, 1])
      yield* settle
      expect(repliesOf(harness.events, 0).map((reply) => reply.waveId)).toEqual([1, 2])
      expect(repliesOf(harness.events, 1)).toEqual([])
      expect(harness.workers[1].truth().loras).toEqual([])
      yield* harness.heal()
      yield* settle
      expect(repliesOf(harness.events, 1).map((reply) => [reply.waveId, reply.result._tag])).toEqual([[1, "Ok"], [2, "Ok"]])
      expect(harness.workers[1].truth().loras).toEqual([3])
    }))
  })

  test("a kill ends a hung rank: Exited is its only event and its hung call never applies", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 1, method: "addLora", kind: "hang" }] })
      yield* harness.send(1, addLora, [1])
      yield* settle
      yield* harness.transport.signal(1, "kill")
      yield* harness.heal()
      yield* settle
      expect(harness.events).toEqual([{ _tag: "Exited", rank: 1, exit: { code: null, signal: "SIGKILL", reason: "SIGKILL" } }])
      expect(harness.workers[1].truth().loras).toEqual([])
    }))
  })

  test("crashAfterApply applies the call, never replies, and emits Exited once with code 1", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 1, method: "addLora", kind: "crashAfterApply" }] })
      yield* harness.send(1, addLora, [0, 1])
      yield* harness.send(2, listLoras, [0, 1])
      yield* settle
      expect(harness.workers[1].truth().loras).toEqual([3])
      expect(repliesOf(harness.events, 1)).toEqual([])
      expect(exitsOf(harness.events, 1)).toEqual([
        { _tag: "Exited", rank: 1, exit: { code: 1, signal: null, reason: "crashed after applying addLora (injected)" } }
      ])
      expect(repliesOf(harness.events, 0).length).toBe(2)
      expect(harness.exitOf(1)?.code).toBe(1)
      expect(yield* harness.send(3, listLoras, [0, 1])).toEqual([1])
    }))
  })

  test("crashBeforeApply exits with code 1 without applying the call", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 0, method: "addLora", kind: "crashBeforeApply" }] })
      yield* harness.send(1, addLora, [0])
      yield* settle
      expect(harness.workers[0].truth().loras).toEqual([])
      expect(harness.events).toEqual([
        { _tag: "Exited", rank: 0, exit: { code: 1, signal: null, reason: "crashed before applying addLora (injected)" } }
      ])
    }))
  })

  test("throw answers a definite ModelError naming the method and rank, and applies nothing", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 1, method: "addLora", kind: "throw", count: 1 }] })
      yield* harness.send(7, addLora, [1])
      yield* settle
      expect(repliesOf(harness.events, 1)).toMatchObject([{
        rank: 1, waveId: 7,
        result: { _tag: "Failed", error: { _tag: "ModelError", reason: "injected fault: throw in addLora on rank 1" } }
      }])
      expect(harness.workers[1].truth().loras).toEqual([])
    }))
  })

  test("slow answers after delayMs of virtual time, not before", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 0, method: "listLoras", kind: "slow", delayMs: 50 }] })
      yield* harness.send(1, listLoras, [0])
      yield* TestClock.adjust("49 millis")
      expect(harness.events).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(repliesOf(harness.events, 0).length).toBe(1)
    }))
  })

  test("a reply reaches the handler replyDelayMs after the rank sent it", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ replyDelayMs: 20 })
      yield* harness.send(1, listLoras, [0])
      yield* TestClock.adjust("19 millis")
      expect(harness.events).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(repliesOf(harness.events, 0).length).toBe(1)
    }))
  })

  test("terminate is ignored with ignoreTerminate, and kill still works", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 0, kind: "ignoreTerminate" }] })
      yield* harness.transport.signal(0, "terminate")
      yield* settle
      expect(harness.events).toEqual([])
      yield* harness.send(1, listLoras, [0])
      yield* settle
      expect(repliesOf(harness.events, 0).length).toBe(1)
      yield* harness.transport.signal(0, "kill")
      yield* settle
      expect(exitsOf(harness.events, 0)).toMatchObject([{ exit: { signal: "SIGKILL" } }])
    }))
  })

  test("terminate stops a rank without signal faults", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness()
      yield* harness.transport.signal(1, "terminate")
      yield* settle
      expect(harness.events).toEqual([{ _tag: "Exited", rank: 1, exit: { code: null, signal: "SIGTERM", reason: "SIGTERM" } }])
    }))
  })

  test("unkillable survives terminate and kill until healed; then kill works", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 1, kind: "unkillable" }] })
      yield* harness.transport.signal(1, "terminate")
      yield* harness.transport.signal(1, "kill")
      yield* settle
      expect(harness.events).toEqual([])
      expect(harness.exitOf(1)).toBeNull()
      yield* harness.heal()
      yield* harness.transport.signal(1, "kill")
      yield* settle
      expect(exitsOf(harness.events, 1)).toMatchObject([{ exit: { signal: "SIGKILL" } }])
    }))
  })

  test("a shutdown replies Ok, then the rank exits with code 0", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ worldSize: 1 })
      yield* harness.send(1, { method: "shutdown" }, [0])
      yield* settle
      expect(harness.events).toEqual([
        { _tag: "Reply", reply: { rank: 0, waveId: 1, result: { _tag: "Ok", value: undefined } } },
        { _tag: "Exited", rank: 0, exit: { code: 0, signal: null, reason: "shutdown" } }
      ])
    }))
  })

  test("send answers dead ranks and full mailboxes as unreachable", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ mailboxCapacity: 2, faults: [{ rank: 0, method: "listLoras", kind: "hang" }] })
      yield* harness.transport.signal(1, "kill")
      yield* harness.send(1, listLoras, [0])
      yield* settle
      // Rank 0 now hangs on wave 1 with an empty mailbox: two more fit, the third does not.
      expect(yield* harness.send(2, listLoras, [0, 1])).toEqual([1])
      expect(yield* harness.send(3, listLoras, [0])).toEqual([])
      expect(yield* harness.send(4, listLoras, [0])).toEqual([0])
    }))
  })

  test("a worker defect ends the rank as a crash instead of leaving the executor waiting", async () => {
    await runSim(Effect.gen(function* () {
      const healthy = makeSimulatedWorker({ rank: 0, worldSize: 1, outputRank: 0 })
      const broken = { ...healthy, listLoras: () => Effect.die(new Error("simulation bug")) }
      const sim = yield* makeSimTransport({ workers: [broken], book: makeFaultBook(1) })
      const events: Array<TransportEvent> = []
      yield* sim.transport.listen((event) => events.push(event))
      yield* sim.transport.send({ waveId: 1, call: listLoras }, [0])
      yield* settle
      expect(events).toMatchObject([{ _tag: "Exited", rank: 0, exit: { code: 1, reason: "rank host died: Error: simulation bug" } }])
    }))
  })

  test("events before listen are buffered and delivered in order", async () => {
    await runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ listen: false })
      yield* harness.send(1, listLoras, [0])
      yield* settle
      yield* harness.transport.signal(0, "kill")
      yield* settle
      const events: Array<TransportEvent> = []
      yield* harness.transport.listen((event) => events.push(event))
      expect(events.map((event) => event._tag)).toEqual(["Reply", "Exited"])
    }))
  })
})

// ---------------------------------------------------------------------------------------------
// Exit ordering under random scripts.
// ---------------------------------------------------------------------------------------------

type Action =
  | { readonly _tag: "send"; readonly call: WorkerCall; readonly ranks: ReadonlyArray<number> }
  | { readonly _tag: "signal"; readonly rank: number; readonly signal: StopSignal }
  | { readonly _tag: "advance"; readonly millis: number }

const batchCall: WorkerCall = {
  method: "execute",
  batch: {
    batchId: 1,
    requests: [{
      requestId: "r", prompt: "p", height: 4, width: 4, frames: 1, fps: 0, steps: 5, guidanceScale: 1,
      seed: 1, outputsPerPrompt: 1, outputType: "image"
    }]
  }
}

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    _tag: fc.constant("send" as const),
    call: fc.constantFrom<WorkerCall>({ method: "load" }, listLoras, addLora, batchCall, { method: "shutdown" }),
    ranks: fc.subarray([0, 1, 2])
  }),
  fc.record({ _tag: fc.constant("signal" as const), rank: fc.nat(2), signal: fc.constantFrom<StopSignal>("terminate", "kill") }),
  fc.record({ _tag: fc.constant("advance" as const), millis: fc.integer({ min: 0, max: 8 }) })
)

const faultArbitrary: fc.Arbitrary<FaultSpec> = fc.oneof(
  fc.record({ rank: fc.nat(2), method: fc.constantFrom("addLora" as const, "execute" as const), kind: fc.constantFrom("hang" as const, "crashAfterApply" as const, "crashBeforeApply" as const, "throw" as const) }),
  fc.record({ rank: fc.nat(2), kind: fc.constantFrom("ignoreTerminate" as const, "unkillable" as const) })
)

describe("simulated transport, random scripts", () => {
  test.prop([fc.array(actionArbitrary, { maxLength: 25 }), fc.array(faultArbitrary, { maxLength: 3 }), fc.nat(4), fc.nat(3)])(
    "a rank's Exited is emitted at most once and no reply of that rank follows it",
    async (script, faults, replyDelayMs, stepMs) => {
      await runSim(Effect.gen(function* () {
        const harness = yield* makeHarness({ worldSize: 3, faults, replyDelayMs, stepMs })
        let waveId = 0
        for (const action of script) {
          if (action._tag === "send") yield* harness.send(++waveId, action.call, action.ranks)
          if (action._tag === "signal") yield* harness.transport.signal(action.rank, action.signal)
          if (action._tag === "advance") yield* TestClock.adjust(`${action.millis} millis`)
        }
        yield* settle
        for (let rank = 0; rank < 3; rank++) {
          const mine = harness.events.filter((event) => (event._tag === "Reply" ? event.reply.rank : event.rank) === rank)
          const exitIndex = mine.findIndex((event) => event._tag === "Exited")
          expect(exitsOf(mine, rank).length).toBe(harness.exitOf(rank) === null ? 0 : 1)
          if (exitIndex >= 0) expect(exitIndex).toBe(mine.length - 1)
          const waveIds = repliesOf(mine, rank).map((reply) => reply.waveId)
          expect(waveIds).toEqual([...waveIds].sort((a, b) => a - b))
        }
      }))
    })
})


/**
 * Goal: a rank host does what the new call faults say, and executes each wave at most once:
 * `dropReply` applies without a reply, `duplicateReply` applies once and replies twice,
 * `oomOnWake` answers OutOfMemory and leaves the rank asleep (and unhealthy), and
 * `crashDuringShutdown` exits with code 1 without a reply; a request the network or the sender
 * duplicates is received once and the repeat is counted.
 * Method: examples for each fault kind, and a fast-check property over random duplicating,
 * reordering networks. Each test runs in a virtual-time world (transport-harness.ts).
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { Effect } from "effect"
import type { WorkerCall } from "../../../core/worker.ts"
import { delayArbitrary } from "./network-arbitraries.ts"
import { addLora, advance, eventsOf, listLoras, makeHarness, repliesOf, runSim, settle } from "./transport-harness.ts"

const firedAt = (points: ReadonlyArray<{ point: string; rank: number; fired: number }>, point: string, rank: number) =>
  points.find((count) => count.point === point && count.rank === rank)?.fired ?? 0

describe("reply faults", () => {
  test("dropReply applies the call and sends no reply", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 1, method: "addLora", kind: "dropReply", count: 1 }] })
      yield* harness.send(1, addLora, [0, 1])
      yield* harness.send(2, listLoras, [1])
      yield* settle
      expect(harness.workers.map((worker) => worker.truth().loras)).toEqual([[3], [3]])
      expect(repliesOf(harness.events, 1).map((reply) => reply.waveId)).toEqual([2])
      expect(harness.points.counts()).toEqual([{ point: "call.dropReply", rank: 1, method: "addLora", fired: 1 }])
    }))
  })

  test("duplicateReply applies the call once and sends the same reply twice", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 0, method: "listLoras", kind: "duplicateReply", count: 1 }] })
      yield* harness.send(1, addLora, [0])
      yield* harness.send(2, listLoras, [0])
      yield* settle
      const replies = repliesOf(harness.events, 0).filter((reply) => reply.waveId === 2)
      expect(replies).toEqual([
        { rank: 0, waveId: 2, result: { _tag: "Ok", value: [3] } },
        { rank: 0, waveId: 2, result: { _tag: "Ok", value: [3] } }
      ])
      expect(harness.observed.filter((event) => event.kind === "received" && event.waveId === 2)).toHaveLength(1)
    }))
  })
})

describe("process faults", () => {
  test("oomOnWake answers OutOfMemory, leaves the rank asleep and unhealthy; after heal the wake works", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ worldSize: 1, faults: [{ rank: 0, kind: "oomOnWake" }] })
      const wake: WorkerCall = { method: "wakeUp", tags: ["weights"] }
      yield* harness.send(1, { method: "load" }, [0])
      yield* harness.send(2, { method: "sleep", level: 1 }, [0])
      yield* harness.send(3, wake, [0])
      yield* harness.send(4, { method: "checkHealth" }, [0])
      yield* settle
      const [, , woke, health] = repliesOf(harness.events, 0)
      expect(woke.result).toMatchObject({ _tag: "Failed", error: { _tag: "OutOfMemory" } })
      expect(health.result).toMatchObject({ _tag: "Failed", error: { _tag: "Unhealthy" } })
      expect(harness.workers[0].truth()).toMatchObject({ asleep: true, sleepLevel: 1 })
      yield* harness.heal()
      yield* harness.send(5, wake, [0])
      yield* settle
      expect(repliesOf(harness.events, 0)[4].result._tag).toBe("Ok")
      expect(harness.workers[0].truth().asleep).toBe(false)
      expect(firedAt(harness.points.counts(), "wake.oom", 0)).toBe(1)
    }))
  })

  test("crashDuringShutdown exits with code 1 before replying", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ faults: [{ rank: 1, kind: "crashDuringShutdown" }] })
      yield* harness.send(1, { method: "shutdown" }, [0, 1])
      yield* settle
      expect(eventsOf(harness.events, 0).map((event) => event._tag)).toEqual(["Reply", "Exited"])
      expect(eventsOf(harness.events, 1)).toEqual([
        { _tag: "Exited", rank: 1, exit: { code: 1, signal: null, reason: "crashed during shutdown (injected)" } }
      ])
      expect(firedAt(harness.points.counts(), "shutdown.crash", 1)).toBe(1)
    }))
  })
})

describe("at-most-once execution", () => {
  test("a repeated wave id from the sender is ignored and counted", () => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ worldSize: 1 })
      yield* harness.send(1, listLoras, [0])
      yield* harness.send(1, listLoras, [0])
      yield* settle
      expect(repliesOf(harness.events, 0)).toHaveLength(1)
      expect(firedAt(harness.points.counts(), "rank.duplicateRequest", 0)).toBe(1)
    }))
  })

  test.prop([
    fc.constantFrom(0.5, 1), fc.constantFrom(0, 0.5), delayArbitrary, fc.nat(),
    fc.array(fc.tuple(fc.subarray([0, 1, 2], { minLength: 1 }), fc.nat(4)), { minLength: 1, maxLength: 10 })
  ])("a duplicated or reordered request executes at most once and never after a newer wave; without reordering every wave executes", (
    duplicateProbability, reorderProbability, delayMs, seed, waves
  ) => {
    runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({ worldSize: 3, seed, network: { request: { duplicateProbability, reorderProbability, delayMs } } })
      for (const [index, [ranks, gapMs]] of waves.entries()) {
        yield* harness.send(index + 1, listLoras, ranks)
        yield* advance(gapMs)
      }
      yield* settle
      const count = (point: string, rank: number) =>
        harness.points.counts().find((entry) => entry.point === point && entry.rank === rank)?.fired ?? 0
      for (let rank = 0; rank < 3; rank++) {
        const expected = waves.flatMap(([ranks], index) => ranks.includes(rank) ? [index + 1] : [])
        // In the order the rank started them: strictly increasing wave ids, each one sent to it.
        const received = harness.observed.filter((event) => event.kind === "received" && event.rank === rank).map((event) => event.waveId!)
        received.forEach((waveId, index) => expect(index === 0 || waveId > received[index - 1]).toBe(true))
        for (const waveId of received) expect(expected).toContain(waveId)
        if (reorderProbability === 0) expect(received).toEqual(expected)
        expect(repliesOf(harness.events, rank).map((reply) => reply.waveId)).toEqual(received)
        // Every copy that arrived and was not executed was counted as a duplicate or a stale request.
        const arrivals = expected.length + count("net.request.duplicate", rank)
        expect(received.length + count("rank.duplicateRequest", rank) + count("rank.staleRequest", rank)).toBe(arrivals)
      }
    }), seed)
  })
})

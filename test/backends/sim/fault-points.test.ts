/**
 * Goal: fault point counters say exactly what fired: each count equals the number of `fault`
 * events the observer heard for that (point, rank, method), every fault-book firing shows at its
 * kind's point, and each network effect fires its own named point.
 * Method: a fast-check property over seeds, random networks and rules on a cluster driven by the
 * core executor, comparing the counters to the observer's log; examples for the network points.
 */
import { fc, test } from "@fast-check/vitest"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import type { WorkerCall } from "../../../core/worker.ts"
import { faultPointOfKind, type FaultPointCount, type SimEvent } from "../../../backends/sim/fault-points.ts"
import type { FaultRule } from "../../../backends/sim/faults.ts"
import { makeClusterHarness } from "./cluster-harness.ts"
import { linkArbitrary } from "./network-arbitraries.ts"
import { listLoras, makeHarness, runSim, settle } from "./transport-harness.ts"

const ruleArbitrary: fc.Arbitrary<FaultRule> = fc.record({
  kind: fc.constantFrom("throw" as const, "dropReply" as const, "duplicateReply" as const, "ignoreTerminate" as const),
  probability: fc.constantFrom(0.1, 0.5, 1)
})

const countEvents = (events: ReadonlyArray<SimEvent>): ReadonlyArray<FaultPointCount> => {
  const counts = new Map<string, FaultPointCount>()
  for (const event of events) {
    if (event.kind !== "fault" || event.point === undefined) continue
    const key = `${event.point}|${event.rank}|${event.method ?? ""}`
    const previous = counts.get(key)
    counts.set(key, { point: event.point, rank: event.rank, method: event.method ?? null, fired: (previous?.fired ?? 0) + 1 })
  }
  return [...counts.values()].sort((a, b) =>
    a.point.localeCompare(b.point) || a.rank - b.rank || (a.method ?? "").localeCompare(b.method ?? ""))
}

describe("fault point counters", () => {
  test.prop([fc.nat(), fc.integer({ min: 1, max: 3 }), linkArbitrary, linkArbitrary, fc.array(ruleArbitrary, { maxLength: 3 })], { numRuns: 40 })(
    "the counters match the observer's fault events, and every book firing shows at its kind's point",
    (seed, worldSize, request, reply, rules) => {
      const h = makeClusterHarness({ worldSize, seed, rules, network: { request, reply } })
      const calls: ReadonlyArray<WorkerCall> = [{ method: "load" }, listLoras, { method: "checkHealth" }, listLoras]
      for (const call of calls) h.run(Effect.result(h.executor.collectiveResult(call, { timeoutMs: 60 })))
      h.run(h.executor.shutdown({ graceMs: 50 }))
      const points = h.run(h.handle.faultPoints())
      expect(points).toEqual(countEvents(h.observed))
      for (const count of h.run(h.handle.faultCounts())) {
        const point = points.find((candidate) =>
          candidate.point === faultPointOfKind[count.kind] && candidate.rank === count.rank && candidate.method === count.method)
        expect(point?.fired).toBe(count.fired)
      }
    })

  test("each network effect fires its own point, on the rank and method of the message", () => {
    const points = runSim(Effect.gen(function* () {
      const harness = yield* makeHarness({
        worldSize: 3,
        network: {
          links: [
            { rank: 0, direction: "request", config: { duplicateProbability: 1 } },
            { rank: 1, direction: "reply", config: { dropProbability: 1 } },
            { rank: 2, direction: "reply", config: { reorderProbability: 1, duplicateProbability: 1 } }
          ]
        }
      })
      yield* harness.send(1, listLoras, [0, 1, 2])
      yield* settle
      return harness.points.counts().map((count) => [count.point, count.rank, count.method, count.fired])
    }))
    expect(points).toEqual([
      ["net.reorder", 2, "listLoras", 2],
      ["net.reply.drop", 1, "listLoras", 1],
      ["net.reply.duplicate", 2, "listLoras", 1],
      ["net.request.duplicate", 0, "listLoras", 1],
      ["rank.duplicateRequest", 0, "listLoras", 1]
    ])
  })
})

/**
 * Goal: the cluster's fault catalogue and network, as the core executor sees them: one seed
 * replays the same run event for event; `dropReply` times the caller out although the rank
 * applied the call; `duplicateReply` is dropped by the executor and changes no result;
 * `oomOnWake` leaves the rank asleep with OutOfMemory; `crashDuringShutdown` shows in the
 * shutdown report as an exit with code 1; a rank's death reaches the executor across a clogged
 * link.
 * Method: fast-check properties over seeds, random networks and rules for determinism, examples
 * for each fault, each in a fresh virtual-time world with makeExecutor (cluster-harness.ts).
 */
import { fc, test } from "@fast-check/vitest"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import { all } from "../../../core/control.ts"
import type { WorkerCall } from "../../../core/worker.ts"
import type { FaultRule } from "../../../backends/sim/faults.ts"
import { makeClusterHarness } from "./cluster-harness.ts"
import { linkArbitrary } from "./network-arbitraries.ts"

const listLoras = { method: "listLoras" } as const
const addLora = { method: "addLora", adapter: { id: 5, name: "style" } } as const

const ruleArbitrary: fc.Arbitrary<FaultRule> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("throw" as const, "dropReply" as const, "duplicateReply" as const, "hang" as const, "crashAfterApply" as const),
    probability: fc.constantFrom(0.05, 0.2, 0.5)
  }),
  fc.record({ kind: fc.constant("slow" as const), probability: fc.constantFrom(0.2, 0.5), delayMs: fc.integer({ min: 1, max: 80 }) })
)

const workloadArbitrary = fc.array(fc.constantFrom<WorkerCall>(listLoras, addLora, { method: "checkHealth" }, { method: "load" }), {
  minLength: 1, maxLength: 8
})

describe("determinism", () => {
  test.prop([
    fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 1, max: 4 }), linkArbitrary, linkArbitrary,
    fc.array(ruleArbitrary, { maxLength: 3 }), workloadArbitrary, fc.boolean()
  ], { numRuns: 40 })(
    "the same seed gives the same observer event sequence and the same outcomes",
    (seed, worldSize, request, reply, rules, workload, swizzle) => {
      const play = () => {
        const h = makeClusterHarness({ worldSize, seed, rules, network: { request, reply }, shuffleReadyTasks: true })
        if (swizzle) h.world.fork(h.handle.swizzle())
        const outcomes = workload.map((call) =>
          h.run(Effect.map(Effect.result(h.executor.collectiveResult(call, { timeoutMs: 100 })), (result) =>
            result._tag === "Success" ? result.success.outcomes.map((outcome) => outcome._tag) : [result.failure._tag])))
        h.run(Effect.all([h.handle.stopInjecting(), h.handle.healNetwork(), h.handle.heal()]))
        return { outcomes, events: [...h.observed], points: h.run(h.handle.faultPoints()) }
      }
      const first = play()
      expect(first.events.length).toBeGreaterThan(0)
      expect(play()).toEqual(first)
    })
})

describe("reply faults through the executor", () => {
  test.prop([fc.integer({ min: 1, max: 4 }).chain((worldSize) => fc.tuple(fc.constant(worldSize), fc.nat(worldSize - 1)))])(
    "dropReply: the executor sees TimedOut on that rank, yet the truth shows the call applied",
    ([worldSize, rank]) => {
      const h = makeClusterHarness({ worldSize, faults: [{ rank, method: "addLora", kind: "dropReply", count: 1 }] })
      const result = h.run(h.executor.collectiveResult(addLora, { timeoutMs: 50 }))
      expect(result.outcomes.map((outcome) => outcome._tag)).toEqual(
        Array.from({ length: worldSize }, (_, other) => other === rank ? "TimedOut" : "Ok"))
      expect(h.run(h.handle.truth()).map((truth) => truth.loras)).toEqual(Array.from({ length: worldSize }, () => [5]))
    })

  test.prop([fc.integer({ min: 2, max: 5 }).chain((worldSize) => fc.tuple(fc.constant(worldSize), fc.nat(worldSize - 1)))])(
    "duplicateReply: the executor drops the copy, counts it, and the result equals the fault-free one",
    ([worldSize, rank]) => {
      // Another rank answers late, so the copy arrives while the wave is still pending.
      const lateRank = (rank + 1) % worldSize
      const slow = { rank: lateRank, method: "listLoras" as const, kind: "slow" as const, delayMs: 20, count: 1 }
      const call = (faulty: boolean) => {
        const h = makeClusterHarness({ worldSize, faults: faulty ? [slow, { rank, method: "listLoras", kind: "duplicateReply" }] : [slow] })
        return { result: h.run(h.executor.collectiveResult(listLoras, { timeoutMs: 100 })), stats: h.run(h.executor.stats) }
      }
      const faulty = call(true)
      expect(faulty.result).toEqual(call(false).result)
      expect(faulty.stats.duplicateRepliesDropped).toBe(1)
    })
})

describe("process faults through the executor", () => {
  test.prop([fc.integer({ min: 1, max: 4 }).chain((worldSize) => fc.tuple(fc.constant(worldSize), fc.nat(worldSize - 1)))])(
    "oomOnWake: the wake fails with OutOfMemory on that rank, which stays asleep",
    ([worldSize, rank]) => {
      const h = makeClusterHarness({ worldSize, faults: [{ rank, kind: "oomOnWake", count: 1 }] })
      h.run(h.executor.collectiveRpc({ method: "load" }, { timeoutMs: 50, aggregate: all() }))
      h.run(h.executor.collectiveRpc({ method: "sleep", level: 1 }, { timeoutMs: 50, aggregate: all() }))
      const woke = h.run(h.executor.collectiveResult({ method: "wakeUp", tags: ["weights"] }, { timeoutMs: 50 }))
      expect(woke.outcomes[rank]).toMatchObject({ _tag: "Failed", error: { _tag: "OutOfMemory" } })
      expect(woke.outcomes.filter((outcome) => outcome._tag === "Ok")).toHaveLength(worldSize - 1)
      expect(h.run(h.handle.truth()).map((truth) => truth.asleep)).toEqual(
        Array.from({ length: worldSize }, (_, other) => other === rank))
    })

  test.prop([fc.integer({ min: 1, max: 4 }).chain((worldSize) => fc.tuple(fc.constant(worldSize), fc.nat(worldSize - 1)))])(
    "crashDuringShutdown: shutdown escalation sees that rank exit with code 1, and no signal was needed",
    ([worldSize, rank]) => {
      const h = makeClusterHarness({ worldSize, faults: [{ rank, kind: "crashDuringShutdown" }] })
      const report = h.run(h.executor.shutdown({ graceMs: 100 }))
      expect(report.survivingRanks).toEqual([])
      expect(report.escalation.terminated).toEqual([])
      expect(report.exits.find((exit) => exit.rank === rank)?.exit).toEqual({ code: 1, signal: null, reason: "crashed during shutdown (injected)" })
      expect(report.exits.filter((exit) => exit.exit.code === 0)).toHaveLength(worldSize - 1)
    })

  test("a rank's death reaches the executor across a clogged link and resolves the pending call before its deadline", () => {
    const h = makeClusterHarness({ worldSize: 2 })
    h.run(h.handle.clog(1))
    const pending = h.world.fork(h.executor.collectiveResult(listLoras, { timeoutMs: 5_000 }))
    h.world.advanceBy(10, { eventsMax: 100_000 })
    h.run(h.handle.kill(1))
    const result = h.world.runUntilDone(pending, { virtualMsMax: 10_000, eventsMax: 100_000 })
    expect(result._tag === "Done" && h.world.nowMs() < 5_000).toBe(true)
    expect(h.run(h.executor.exitedRanks)).toEqual([1])
    expect(h.run(h.executor.state)).toBe("failed")
  })
})

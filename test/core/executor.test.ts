/**
 * Executor properties on the in-process simulated cluster, in a virtual-time world.
 *
 * Goal: the collective-call contract that upstream broke. A call succeeds iff every targeted
 * rank is Ok; its error names exactly the non-Ok ranks; it resolves by its deadline; a late
 * reply is never delivered to a later call; a rank death resolves pending calls at once and
 * fails later calls fast; the data plane fails a batch when any rank fails; shutdown escalates
 * and names survivors. Method: fast-check generates fault placements (rank, kind, delay) and
 * timeouts; each run builds a fresh world and cluster, so a counterexample replays exactly.
 */
import { fc, test } from "@fast-check/vitest"
import { Effect, Exit, Scope } from "effect"
import { describe, expect } from "vitest"
import { makeSimCluster, type SimFaultHandle } from "../../backends/sim/cluster.ts"
import type { FaultSpec } from "../../backends/sim/faults.ts"
import { all, type CollectiveResult } from "../../core/control.ts"
import { type ExecutorShape, makeExecutor } from "../../core/executor.ts"
import { makeWorld, type World } from "../../simulator/world.ts"

const budget = { virtualMsMax: 1_000_000, eventsMax: 1_000_000 }

interface Harness {
  readonly world: World
  readonly executor: ExecutorShape
  readonly handle: SimFaultHandle
  /** Runs an effect in the world to its end and answers its exit. */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Exit.Exit<A, E>
}

const harness = (worldSize: number, faults: ReadonlyArray<FaultSpec> = [], seed = 1): Harness => {
  const world = makeWorld({ seed })
  const scope = Scope.makeUnsafe()
  const run = <A, E>(effect: Effect.Effect<A, E>): Exit.Exit<A, E> => {
    const result = world.run(effect, budget)
    if (result._tag !== "Done") throw new Error(`world run ended ${result._tag} at ${result.atMs} ms`)
    return result.exit
  }
  const built = run(Effect.gen(function* () {
    const cluster = yield* makeSimCluster({ worldSize, model: {}, faults })
    const executor = yield* makeExecutor(cluster.transport)
    return { executor, handle: cluster.handle }
  }).pipe(Effect.provideService(Scope.Scope, scope)))
  if (Exit.isFailure(built)) throw new Error("cluster did not start")
  return { world, run, ...built.value }
}

const healthCall = { method: "checkHealth" } as const

/** The outcome tag a single call fault must produce on its rank. */
const expectedTag = (fault: { kind: string; delayMs: number }, timeoutMs: number): string => {
  switch (fault.kind) {
    case "throw": return "Failed"
    case "hang": return "TimedOut"
    case "slow": return fault.delayMs < timeoutMs ? "Ok" : "TimedOut"
    default: return "Crashed"
  }
}

const faultArbitrary = (worldSize: number) =>
  fc.record({
    rank: fc.integer({ min: 0, max: worldSize - 1 }),
    kind: fc.constantFrom("throw", "hang", "slow", "crashBeforeApply", "crashAfterApply"),
    delayMs: fc.integer({ min: 1, max: 400 })
  })

describe("collective calls", () => {
  test.prop([fc.integer({ min: 1, max: 6 }).chain((worldSize) =>
    fc.tuple(fc.constant(worldSize), fc.array(faultArbitrary(worldSize), { maxLength: 3 }), fc.integer({ min: 10, max: 300 }))
  )], { numRuns: 80 })(
    "a call succeeds iff every rank is Ok, and its error names exactly the non-Ok ranks",
    ([worldSize, faults, timeoutMs]) => {
      const specs = faults.map((fault): FaultSpec => ({
        rank: fault.rank, kind: fault.kind, method: "checkHealth", count: 1, ...(fault.kind === "slow" ? { delayMs: fault.delayMs } : {})
      }))
      const h = harness(worldSize, specs)
      const startMs = h.world.nowMs()
      const exit = h.run(Effect.result(h.executor.collectiveRpc(healthCall, { timeoutMs, aggregate: all() })))
      expect(h.world.nowMs() - startMs).toBeLessThanOrEqual(timeoutMs)
      const raw = Exit.isSuccess(exit) ? exit.value : undefined
      expect(raw).toBeDefined()
      // The first fault on a rank is the one its (single) call meets.
      const firstFault = new Map<number, (typeof faults)[number]>()
      for (const fault of faults) if (!firstFault.has(fault.rank)) firstFault.set(fault.rank, fault)
      const crashed = [...firstFault.values()].some((fault) => fault.kind.startsWith("crash"))
      if (raw!._tag === "Success") {
        expect([...firstFault.values()].every((fault) => expectedTag(fault, timeoutMs) === "Ok")).toBe(true)
        expect(raw!.success).toHaveLength(worldSize)
        return
      }
      const error = raw!.failure
      expect(error._tag).toBe("CollectiveRpcError")
      if (error._tag !== "CollectiveRpcError") return
      const result = error.result
      expect(result.outcomes.map((outcome) => outcome.rank)).toEqual(Array.from({ length: worldSize }, (_, rank) => rank))
      const nonOk = result.outcomes.filter((outcome) => outcome._tag !== "Ok").map((outcome) => outcome.rank)
      expect(error.failedRanks).toEqual(nonOk)
      for (const rank of nonOk) expect(error.message).toContain(`rank ${rank} `)
      for (const [rank, fault] of firstFault) {
        const tag = result.outcomes[rank]._tag
        // A crash fails the executor: it resolves the wave at once, so ranks that had not yet
        // answered are left indefinite; every other fault gives exactly its own tag.
        if (!crashed) expect(tag).toBe(expectedTag(fault, timeoutMs))
        else if (fault.kind.startsWith("crash")) expect(["Crashed", "TimedOut"]).toContain(tag)
      }
      for (const outcome of result.outcomes) {
        if (!firstFault.has(outcome.rank)) expect(["Ok", "TimedOut", "Crashed"]).toContain(outcome._tag)
        if (!firstFault.has(outcome.rank) && !crashed) expect(outcome._tag).toBe("Ok")
      }
    }
  )

  test.prop([fc.integer({ min: 2, max: 5 }), fc.integer({ min: 20, max: 200 })], { numRuns: 40 })(
    "a late reply to a timed-out call is dropped and counted, never delivered to the next call",
    (worldSize, timeoutMs) => {
      const h = harness(worldSize, [{ rank: 1, method: "listLoras", kind: "slow", delayMs: timeoutMs * 2, count: 1 }])
      const first = h.run(Effect.result(h.executor.collectiveResult({ method: "listLoras" }, { timeoutMs })))
      expect(Exit.isSuccess(first) && first.value._tag === "Success" && first.value.success.outcomes[1]._tag).toBe("TimedOut")
      // The rank answers the first wave late, then the second: the second must see a Health.
      const second = h.run(h.executor.collectiveResult(healthCall, { timeoutMs: timeoutMs * 4 }))
      expect(Exit.isSuccess(second)).toBe(true)
      const outcome = (second as Exit.Success<CollectiveResult<unknown, unknown>>).value.outcomes[1]
      expect(outcome._tag).toBe("Ok")
      expect((outcome as { value: { rank: number } }).value.rank).toBe(1)
      const stats = h.run(h.executor.stats)
      expect(Exit.isSuccess(stats) && stats.value.staleRepliesDropped).toBe(1)
    }
  )
})

describe("rank death", () => {
  test.prop([fc.integer({ min: 2, max: 5 }), fc.integer({ min: 100, max: 5_000 })], { numRuns: 30 })(
    "a death resolves the pending call at once, later calls fail fast with ExecutorDead, listeners fire once",
    (worldSize, timeoutMs) => {
      const h = harness(worldSize, [{ rank: 1, method: "checkHealth", kind: "hang" }])
      const fired: Array<ReadonlyArray<number>> = []
      h.run(h.executor.onFailure((failure) => fired.push(failure.deadRanks)))
      const pending = h.world.fork(h.executor.collectiveResult(healthCall, { timeoutMs }))
      h.world.advanceBy(5, { eventsMax: 100_000 })
      h.run(h.handle.kill(1))
      h.run(h.handle.kill(0))
      const result = h.world.runUntilDone(pending, budget)
      expect(result._tag).toBe("Done")
      expect(h.world.nowMs()).toBeLessThan(timeoutMs)
      const outcomes = result._tag === "Done" && Exit.isSuccess(result.exit) ? result.exit.value.outcomes : []
      expect(outcomes[1]._tag).toBe("Crashed")
      const later = h.run(Effect.flip(h.executor.collectiveResult(healthCall, { timeoutMs })))
      expect(Exit.isSuccess(later) && later.value._tag).toBe("ExecutorDead")
      expect(fired).toEqual([[1]])
    }
  )
})

describe("data plane", () => {
  const batch = {
    batchId: 1,
    requests: [{
      requestId: "r", prompt: "p", height: 8, width: 8, frames: 1, fps: 0, steps: 3, guidanceScale: 1,
      seed: 7, outputsPerPrompt: 1, outputType: "image" as const
    }]
  }

  test.prop([fc.integer({ min: 2, max: 6 }).chain((worldSize) => fc.tuple(fc.constant(worldSize), fc.integer({ min: 1, max: worldSize - 1 })))], { numRuns: 30 })(
    "a failure on a non-output rank fails the batch even though the output rank answered first",
    ([worldSize, failingRank]) => {
      // Every rank but one loads the model; that one is also slow, so it fails ("not loaded")
      // 50 ms after rank 0's output is in hand (3 steps of 1 ms).
      const h = harness(worldSize, [{ rank: failingRank, method: "execute", kind: "slow", delayMs: 50, count: 1 }])
      const loaded = Array.from({ length: worldSize }, (_, rank) => rank).filter((rank) => rank !== failingRank)
      h.run(h.executor.collectiveResult({ method: "load" }, { ranks: loaded, timeoutMs: 100 }))
      const exit = h.run(Effect.flip(h.executor.execute(batch, { timeoutMs: 1_000 })))
      expect(Exit.isSuccess(exit)).toBe(true)
      const error = (exit as unknown as Exit.Success<{ _tag: string; failedRanks?: ReadonlyArray<number> }>).value
      expect(error._tag).toBe("CollectiveRpcError")
      expect(error.failedRanks).toEqual([failingRank])
      const outcomes = (error as unknown as { result: CollectiveResult<unknown, unknown> }).result.outcomes
      const outputOutcome = outcomes[0]
      expect(outputOutcome._tag === "Ok" && outputOutcome.elapsedMs).toBe(3)
    }
  )
})

describe("shutdown", () => {
  // Per rank: how it resists. A rank that hangs in `shutdown` and is unkillable survives every
  // step; one that only hangs yields to terminate; one that ignores terminate yields to kill.
  const resistance = fc.constantFrom("none", "ignoreTerminate", "unkillable", "hang", "hang+ignoreTerminate", "hang+unkillable")
  test.prop([fc.array(resistance, { minLength: 1, maxLength: 5 })], { numRuns: 40 })(
    "escalation is bounded, names the survivors exactly, and a retry after heal stops them",
    (resistances) => {
      const worldSize = resistances.length
      const faults = resistances.flatMap((kinds, rank) => kinds.split("+").filter((kind) => kind !== "none").map((kind): FaultSpec =>
        kind === "hang" ? { rank, method: "shutdown", kind } : { rank, kind: kind as FaultSpec["kind"] }))
      const h = harness(worldSize, faults)
      const startMs = h.world.nowMs()
      const exit = h.run(h.executor.shutdown({ graceMs: 100 }))
      expect(h.world.nowMs() - startMs).toBeLessThanOrEqual(300)
      const report = Exit.isSuccess(exit) ? exit.value : undefined
      const truth = h.run(h.handle.truth())
      const alive = Exit.isSuccess(truth) ? truth.value.filter((rank) => rank.alive).map((rank) => rank.rank) : []
      expect(report?.survivingRanks).toEqual(alive)
      const survivors = resistances.flatMap((kinds, rank) => (kinds === "hang+unkillable" ? [rank] : []))
      expect(alive).toEqual(survivors)
      h.run(h.handle.heal())
      const retry = h.run(h.executor.shutdown({ graceMs: 100 }))
      expect(Exit.isSuccess(retry) && retry.value.survivingRanks).toEqual([])
      const state = h.run(h.executor.state)
      expect(Exit.isSuccess(state) && state.value).toBe("stopped")
    }
  )
})

// Goal: the checker can fail. Each invariant is shown a planted violation (an engine that claims
// ready while a rank differs, a Health reply from the wrong rank, a close report that hides a
// survivor, ...) and must name it by its id; the honest twin of each case must pass.
// Method: fabricated history entries, exits built from the core's own error classes, and
// hand-written observations (views and rank truth). No engine runs here; the end-to-end runs
// without violations live in engine-run.test.ts.
import { Exit } from "effect"
import { describe, expect, test } from "vitest"
import type { RankTruth } from "../../../backends/harness.ts"
import { itemDigest } from "../../../backends/sim/compute.ts"
import { InvariantViolation } from "../../../core/assert.ts"
import { CollectiveRpcError, type RankOutcome } from "../../../core/control.ts"
import { ControlFailed, RequestAborted } from "../../../core/errors.ts"
import type { CloseReport } from "../../../core/lifecycle.ts"
import type { RankView, SleepBelief } from "../../../core/rank-views.ts"
import { makeHistory, type OperationKind } from "../../../simulator/history.ts"
import { type Checker, invariantIds, invariantStatements, makeChecker, type Observation } from "../../../simulator/invariants.ts"

const worldSize = 3
const ranks = [0, 1, 2]
const truthOf = (rank: number, loras: ReadonlyArray<number> = [], sleepLevel: 1 | 2 | null = null, alive = true): RankTruth =>
  ({ rank, alive, asleep: sleepLevel !== null, sleepLevel, loras, exit: alive ? null : { code: null, signal: "SIGKILL", reason: "SIGKILL" } })
const viewOf = (rank: number, loras: ReadonlyArray<number> = [], sleep: SleepBelief = 0, maybe: ReadonlyArray<number> = []): RankView =>
  ({ rank, loras: new Set(loras), lorasMaybe: new Set(maybe), sleep })
const observation = (overrides: Partial<Observation> = {}): Observation => ({
  atMs: 10, engineState: "ready", views: ranks.map((rank) => viewOf(rank)), truth: ranks.map((rank) => truthOf(rank)), inFlight: [], ...overrides
})
const health = (rank: number) => ({ rank, asleep: false, sleepLevel: null, loras: [], usedBytes: 1, device: `sim:${rank}` })
const closeReport = (overrides: Partial<CloseReport>): CloseReport => ({
  state: "closed", failedRequests: [], stoppedRanks: ranks, survivingRanks: [], exits: [], attempts: 1, elapsedMs: 5, ...overrides
})

/** Runs one fabricated operation through `checker`; answers the violation's id, if any. */
const check = (
  kind: OperationKind, args: unknown, exit: Exit.Exit<unknown, unknown>,
  seen: Observation = observation(), checker: Checker = makeChecker({ worldSize, outputRank: 0 }), invokedAtMs = 0
) => {
  const history = makeHistory({ worldSize })
  const entry = history.invoke(kind, args, invokedAtMs)
  history.complete(entry, exit, seen.atMs)
  return checker.afterOperation(entry, exit, seen)?.invariant
}

describe("invariant ids", () => {
  test("every invariant has a stable kebab-case id and a one-line statement", () => {
    expect(new Set(invariantIds).size).toBe(invariantIds.length)
    for (const id of invariantIds) {
      expect(id).toMatch(/^[a-z]+(-[a-z]+)*$/)
      expect(invariantStatements[id]).not.toContain("\n")
    }
  })
})

describe("no-silent-divergence", () => {
  test("an engine that is ready while a rank holds an adapter it believes absent is caught", () => {
    const seen = observation({ truth: [truthOf(0), truthOf(1, [3]), truthOf(2)] })
    expect(check("checkHealth", {}, Exit.succeed(ranks.map(health)), seen)).toBe("no-silent-divergence")
  })

  test("a definite belief that is false is caught even while degraded", () => {
    const seen = observation({ engineState: "degraded", views: [viewOf(0, [3]), viewOf(1, [3]), viewOf(2, [], 0, [3])] })
    expect(check("listLoras", {}, Exit.succeed([]), seen)).toBe("no-silent-divergence")
  })

  test("a sleep level the engine believes and the rank does not have is caught", () => {
    const seen = observation({ engineState: "asleep", views: ranks.map((rank) => viewOf(rank, [], 1)), truth: [truthOf(0, [], 1), truthOf(1, [], 1), truthOf(2)] })
    expect(check("abort", { requestId: "x" }, Exit.void, seen)).toBe("no-silent-divergence")
  })

  test("a maybe belief is always allowed, whatever the truth", () => {
    const seen = observation({ engineState: "degraded", views: [viewOf(0), viewOf(1, [], "maybe", [3]), viewOf(2)], truth: [truthOf(0), truthOf(1, [3], 2), truthOf(2)] })
    expect(check("abort", { requestId: "x" }, Exit.void, seen)).toBeUndefined()
  })

  test("the subject of an operation in flight may differ from the truth: the engine has not heard back yet", () => {
    const inFlight = makeHistory({ worldSize }).invoke("addLora", { adapter: { id: 3, name: "a" } }, 5)
    const seen = observation({ truth: [truthOf(0, [3]), truthOf(1, [3]), truthOf(2)], inFlight: [inFlight] })
    expect(check("abort", { requestId: "x" }, Exit.void, seen)).toBeUndefined()
  })

  test("ready with a doubt and nothing in flight is caught; mid-operation it is not judged", () => {
    const views = [viewOf(0), viewOf(1, [], 0, [3]), viewOf(2)]
    expect(check("abort", { requestId: "x" }, Exit.void, observation({ views }))).toBe("no-silent-divergence")
    const inFlight = makeHistory({ worldSize }).invoke("listLoras", {}, 5)
    expect(check("abort", { requestId: "x" }, Exit.void, observation({ views, inFlight: [inFlight] }))).toBeUndefined()
  })

  test("a dead rank's truth is not compared with its view", () => {
    const seen = observation({ engineState: "degraded", views: [viewOf(0, [3]), viewOf(1, [3]), viewOf(2)], truth: [truthOf(0, [3]), truthOf(1, [3]), truthOf(2, [], null, false)] })
    expect(check("abort", { requestId: "x" }, Exit.void, seen, makeChecker({ worldSize, outputRank: 0, deathNoticeMs: 100 }))).toBeUndefined()
  })
})

describe("answers", () => {
  const result = (method: string, outcomes: ReadonlyArray<RankOutcome<unknown, unknown>>) => ({ method, waveId: 9, outcomes })

  test("a Health reply from the wrong rank is caught, in a success and inside an error's outcomes", () => {
    expect(check("checkHealth", {}, Exit.succeed([health(0), health(0), health(2)]))).toBe("reply-matches-call")
    const outcomes: ReadonlyArray<RankOutcome<unknown, unknown>> = [
      { _tag: "Ok", rank: 0, value: health(0), elapsedMs: 1 }, { _tag: "Ok", rank: 1, value: health(2), elapsedMs: 1 },
      { _tag: "TimedOut", rank: 2, afterMs: 500 }
    ]
    expect(check("checkHealth", {}, Exit.fail(new CollectiveRpcError({ result: result("checkHealth", outcomes) })))).toBe("reply-matches-call")
    expect(check("checkHealth", {}, Exit.succeed(ranks.map(health)))).toBeUndefined()
  })

  test("an adapter report for another adapter, a sleep summary of another level and unsorted ids are caught", () => {
    const report = (adapterId: number) => ({ adapterId, boundLayers: 16 })
    expect(check("addLora", { adapter: { id: 3, name: "a" } }, Exit.succeed([report(3), report(2), report(3)]))).toBe("reply-matches-call")
    expect(check("sleep", { level: 1 }, Exit.succeed({ level: 2, freedBytesTotal: 0, freedBytesByRank: ranks.map((rank) => ({ rank, freedBytes: 0 })) }))).toBe("reply-matches-call")
    expect(check("listLoras", {}, Exit.succeed([2, 1]))).toBe("reply-matches-call")
  })

  test("execute's Output from a rank other than the output rank is caught", () => {
    const outcomes: ReadonlyArray<RankOutcome<unknown, unknown>> = [
      { _tag: "Ok", rank: 0, value: { _tag: "Ack" }, elapsedMs: 1 }, { _tag: "Ok", rank: 1, value: { _tag: "Output", output: {} }, elapsedMs: 1 },
      { _tag: "TimedOut", rank: 2, afterMs: 500 }
    ]
    const failure = Exit.fail(new CollectiveRpcError({ result: result("execute", outcomes) }))
    expect(check("submit", { request: { requestId: "r" }, wait: true }, failure)).toBe("reply-matches-call")
  })

  test("outcomes that skip a rank or repeat one are caught", () => {
    const ok = (rank: number): RankOutcome<unknown, unknown> => ({ _tag: "Ok", rank, value: health(rank), elapsedMs: 1 })
    const timedOut: RankOutcome<unknown, unknown> = { _tag: "TimedOut", rank: 2, afterMs: 1 }
    const failWith = (outcomes: ReadonlyArray<RankOutcome<unknown, unknown>>) => Exit.fail(new CollectiveRpcError({ result: result("checkHealth", outcomes) }))
    expect(check("checkHealth", {}, failWith([ok(0), timedOut]))).toBe("one-outcome-per-rank")
    expect(check("checkHealth", {}, failWith([ok(0), ok(0), timedOut]))).toBe("one-outcome-per-rank")
    expect(check("checkHealth", {}, failWith([ok(0), ok(1), timedOut]))).toBeUndefined()
  })

  test("a compensation whose restored and unrestored ranks do not split its ranks is caught", () => {
    const outcomes: ReadonlyArray<RankOutcome<unknown, unknown>> = [
      { _tag: "Ok", rank: 0, value: { adapterId: 3, boundLayers: 1 }, elapsedMs: 1 }, { _tag: "Ok", rank: 1, value: { adapterId: 3, boundLayers: 1 }, elapsedMs: 1 },
      { _tag: "Unreached", rank: 2, reason: "full" }
    ]
    const compensation = { operation: "removeLora", ranks: [0, 1], outcomes: [], restoredRanks: [0], unrestoredRanks: [] }
    const error = new ControlFailed({ operation: "addLora", result: result("addLora", outcomes), compensation, divergentRanks: [] })
    expect(check("addLora", { adapter: { id: 3, name: "a" } }, Exit.fail(error))).toBe("one-outcome-per-rank")
  })

  test("a partial addLora undone on too few ranks, or not undone at all, is caught", () => {
    const outcomes: ReadonlyArray<RankOutcome<unknown, unknown>> = [
      { _tag: "Ok", rank: 0, value: { adapterId: 3, boundLayers: 1 }, elapsedMs: 1 }, { _tag: "TimedOut", rank: 1, afterMs: 500 },
      { _tag: "Failed", rank: 2, error: { _tag: "LoraInvalid", adapterId: 3, reason: "bad" } }
    ]
    const failWith = (ranks: ReadonlyArray<number> | undefined) => Exit.fail(new ControlFailed({
      operation: "addLora", result: result("addLora", outcomes), divergentRanks: [],
      compensation: ranks && { operation: "removeLora", ranks, outcomes: [], restoredRanks: ranks, unrestoredRanks: [] }
    }))
    const args = { adapter: { id: 3, name: "a" } }
    const degraded = observation({ engineState: "degraded", views: [viewOf(0), viewOf(1, [], 0, [3]), viewOf(2)] })
    expect(check("addLora", args, failWith([0]), degraded)).toBe("partial-failure-compensated")
    expect(check("addLora", args, failWith(undefined), degraded)).toBe("partial-failure-compensated")
    expect(check("addLora", args, failWith([0, 1, 2]), degraded)).toBe("partial-failure-compensated")
    expect(check("addLora", args, failWith([0, 1]), degraded)).toBeUndefined()
    // A re-add spares the ranks that held the adapter before: they must still hold it.
    const heldBefore = observation({ engineState: "degraded", views: [viewOf(0, [3]), viewOf(1, [], 0, [3]), viewOf(2)], truth: [truthOf(0, [3]), truthOf(1), truthOf(2)] })
    expect(check("addLora", args, failWith([1]), heldBefore)).toBeUndefined()
  })

  test("a collective reported failed with every rank Ok, or a removal that misses a rank, is caught", () => {
    const outcomes = ranks.map((rank): RankOutcome<unknown, unknown> => ({ _tag: "Ok", rank, value: health(rank), elapsedMs: 1 }))
    expect(check("checkHealth", {}, Exit.fail(new CollectiveRpcError({ result: result("checkHealth", outcomes) })))).toBe("success-iff-all-ok")
    expect(check("removeLora", { adapterId: 2 }, Exit.succeed({ adapterId: 2, removedRanks: [0], alreadyAbsentRanks: [2] }))).toBe("success-iff-all-ok")
  })

  test("a sleep whose total is not the sum of its ranks is caught", () => {
    const freedBytesByRank = ranks.map((rank) => ({ rank, freedBytes: 100 }))
    expect(check("sleep", { level: 1 }, Exit.succeed({ level: 1, freedBytesTotal: 200, freedBytesByRank }))).toBe("freed-bytes-add-up")
    expect(check("sleep", { level: 1 }, Exit.succeed({ level: 1, freedBytesTotal: 300, freedBytesByRank }))).toBeUndefined()
  })

  test("a defect in any operation is caught", () => {
    expect(check("wakeUp", { tags: ["weights"] }, Exit.die(new InvariantViolation("boom")))).toBe("no-defect")
  })
})

describe("requests", () => {
  const input = { requestId: "r1", prompt: "a fox", seed: 7, height: 16, width: 16, steps: 2, outputsPerPrompt: 2 }
  const resolved = { ...input, frames: 1, fps: 0, guidanceScale: 1, outputType: "image" as const }
  const completed = (digests: ReadonlyArray<number>, requestId = "r1") => Exit.succeed({
    requestId, batchId: 4,
    output: { primary: "image", batchSize: 2, metadata: {}, payload: [{ _tag: "image", items: digests.map((digest) => ({ digest, height: 16, width: 16, frames: 1, adapterId: null })) }] }
  })
  const rightDigests = [itemDigest(resolved, 0), itemDigest(resolved, 1)]

  test("outputs that are the request's digests pass; a wrong digest or count is caught", () => {
    expect(check("submit", { request: input, wait: true }, completed(rightDigests))).toBeUndefined()
    expect(check("submit", { request: input, wait: true }, completed([rightDigests[0], 1]))).toBe("output-matches-request")
    expect(check("submit", { request: input, wait: true }, completed([rightDigests[0]]))).toBe("output-matches-request")
  })

  test("the output of another request is caught", () => {
    expect(check("submit", { request: input, wait: true }, completed(rightDigests, "r2"))).toBe("reply-matches-call")
  })

  test("a request that completed and was also acknowledged aborted is caught, in either order", () => {
    const checker = makeChecker({ worldSize, outputRank: 0 })
    expect(check("submit", { request: input, wait: false }, Exit.succeed({ requestId: "r1" }), observation(), checker)).toBeUndefined()
    expect(check("abort", { requestId: "r1" }, Exit.void, observation(), checker)).toBeUndefined()
    expect(check("await", { requestId: "r1" }, completed(rightDigests), observation(), checker)).toBe("single-terminal-outcome")
    const honest = makeChecker({ worldSize, outputRank: 0 })
    expect(check("submit", { request: input, wait: false }, Exit.succeed({ requestId: "r1" }), observation(), honest)).toBeUndefined()
    expect(check("abort", { requestId: "r1" }, Exit.void, observation(), honest)).toBeUndefined()
    expect(check("await", { requestId: "r1" }, Exit.fail(new RequestAborted({ requestId: "r1" })), observation(), honest)).toBeUndefined()
  })

  test("a request that ended aborted with no abort acknowledged is caught at the end", () => {
    const checker = makeChecker({ worldSize, outputRank: 0 })
    expect(check("submit", { request: input, wait: true }, Exit.fail(new RequestAborted({ requestId: "r1" })), observation(), checker)).toBeUndefined()
    const ended = observation({ engineState: "closed", truth: ranks.map((rank) => truthOf(rank, [], null, false)) })
    expect(checker.atEnd(makeHistory({ worldSize }), ended, [closeReport({})])?.invariant).toBe("single-terminal-outcome")
  })

  test("a request a close reports failed that had completed is caught", () => {
    const checker = makeChecker({ worldSize, outputRank: 0 })
    const dead = observation({ engineState: "closed", truth: ranks.map((rank) => truthOf(rank, [], null, false)) })
    expect(check("submit", { request: input, wait: true }, completed(rightDigests), observation(), checker)).toBeUndefined()
    expect(check("close", { timeoutMs: 100 }, Exit.succeed(closeReport({ failedRequests: ["r1"] })), dead, checker)).toBe("single-terminal-outcome")
  })
})

describe("close and liveness", () => {
  const allDead = ranks.map((rank) => truthOf(rank, [], null, false))

  test("a close report naming no survivor while a rank is alive is caught", () => {
    const seen = observation({ engineState: "closed", truth: [truthOf(0, [], null, false), truthOf(1), truthOf(2, [], null, false)] })
    expect(check("close", { timeoutMs: 100 }, Exit.succeed(closeReport({})), seen)).toBe("close-report-matches-truth")
    const honest = closeReport({ state: "pending-cleanup", stoppedRanks: [0, 2], survivingRanks: [1] })
    expect(check("close", { timeoutMs: 100 }, Exit.succeed(honest), { ...seen, engineState: "pending-cleanup" })).toBeUndefined()
  })

  test("a close that answers after its timeout is caught", () => {
    const seen = observation({ atMs: 150, engineState: "closed", truth: allDead })
    expect(check("close", { timeoutMs: 100 }, Exit.succeed(closeReport({})), seen, undefined, 0)).toBe("close-bounded")
    expect(check("close", { timeoutMs: 100 }, Exit.succeed(closeReport({})), seen, undefined, 50)).toBeUndefined()
  })

  test("a dead rank must fail the engine by the next later observation, not at the same instant", () => {
    const checker = makeChecker({ worldSize, outputRank: 0 })
    const truth = [truthOf(0), truthOf(1, [], null, false), truthOf(2)]
    expect(check("kill", { rank: 1 }, Exit.void, observation({ atMs: 10, truth }), checker)).toBeUndefined()
    expect(check("abort", { requestId: "x" }, Exit.void, observation({ atMs: 10, truth }), checker)).toBeUndefined()
    expect(check("abort", { requestId: "x" }, Exit.void, observation({ atMs: 11, truth }), checker)).toBe("dead-rank-fails-engine")
  })

  test("an engine that leaves closed is caught", () => {
    const checker = makeChecker({ worldSize, outputRank: 0 })
    expect(check("close", { timeoutMs: 100 }, Exit.succeed(closeReport({})), observation({ engineState: "closed", truth: allDead }), checker)).toBeUndefined()
    expect(check("abort", { requestId: "x" }, Exit.void, observation({ engineState: "ready", truth: allDead }), checker)).toBe("state-follows-lifecycle")
  })

  test("at the end a pending operation, a pending cleanup or a live rank is caught", () => {
    const ended = observation({ atMs: 99, engineState: "closed", truth: allDead })
    const history = makeHistory({ worldSize })
    const checker = makeChecker({ worldSize, outputRank: 0 })
    expect(checker.atEnd(history, ended, [closeReport({})])).toBeUndefined()
    expect(checker.atEnd(history, ended, [])?.invariant).toBe("end-all-complete")
    expect(checker.atEnd(history, { ...ended, truth: [truthOf(0), ...allDead.slice(1)] }, [closeReport({})])?.invariant).toBe("end-all-complete")
    history.invoke("listLoras", {}, 1)
    expect(checker.atEnd(history, ended, [closeReport({})])?.invariant).toBe("end-all-complete")
  })
})

describe("paths", () => {
  test("a ControlFailed whose compensation restored every rank counts compensation-succeeded; notePath counts the runner's own", () => {
    const checker = makeChecker({ worldSize, outputRank: 0 })
    const outcomes: ReadonlyArray<RankOutcome<unknown, unknown>> = [
      { _tag: "Ok", rank: 0, value: { adapterId: 3, boundLayers: 1 }, elapsedMs: 1 }, { _tag: "Ok", rank: 1, value: { adapterId: 3, boundLayers: 1 }, elapsedMs: 1 },
      { _tag: "Failed", rank: 2, error: { _tag: "LoraInvalid", adapterId: 3, reason: "bad" } }
    ]
    const compensation = { operation: "removeLora", ranks: [0, 1], outcomes: [], restoredRanks: [0, 1], unrestoredRanks: [] }
    const error = new ControlFailed({ operation: "addLora", result: { method: "addLora", waveId: 2, outcomes }, compensation, divergentRanks: [] })
    expect(check("addLora", { adapter: { id: 3, name: "a" } }, Exit.fail(error), observation(), checker)).toBeUndefined()
    checker.notePath("stale-reply-dropped")
    expect(checker.paths().get("compensation-succeeded")).toBe(1)
    expect(checker.paths().get("stale-reply-dropped")).toBe(1)
  })
})

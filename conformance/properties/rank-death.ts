/**
 * AGG-5: a rank death fails the pending call promptly, and later calls fast.
 *
 * Upstream noticed a dead worker only when its call timed out, so every pending call waited out
 * its full deadline and the next call went to a dead rank. Method: some ranks hang in
 * `checkHealth`; a call goes out with a long deadline; a short while later one of the hung ranks
 * is killed from outside. The pending call must resolve before its deadline with the killed rank
 * `Crashed`, and the next call must fail at once with `ExecutorDead`.
 */
import { Duration, Effect, Fiber } from "effect"
import * as fc from "fast-check"
import type { ClusterHarness } from "../../backends/harness.ts"
import { describeError, fail, succeed, tagOf, timeSlackMs, withCluster } from "../cluster.ts"
import { injectAll, rankSubset, showRanks, worldSizeMax } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

const deathCase = fc.integer({ min: 1, max: worldSizeMax }).chain((ranks) =>
  rankSubset(ranks, 1).chain((hungRanks) =>
    fc.record({
      ranks: fc.constant(ranks),
      seed: fc.nat({ max: 0x7fff_ffff }),
      hungRanks: fc.constant(hungRanks),
      killedRank: fc.constantFrom(...hungRanks),
      timeoutMs: fc.integer({ min: 1_000, max: 10_000 }),
      killAfterMs: fc.integer({ min: 1, max: 200 })
    })))

/** Starts the call, kills `rank` after `killAfterMs`, and waits for the call's result. */
const callThenKill = (harness: ClusterHarness, rank: number, timeoutMs: number, killAfterMs: number) =>
  Effect.gen(function* () {
    const pending = yield* Effect.forkChild(harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs }))
    yield* Effect.sleep(Duration.millis(killAfterMs))
    yield* harness.faults.kill(rank)
    return yield* Fiber.join(pending)
  })

export const deathFailsPendingCall: ConformanceProperty = {
  id: "AGG-5",
  statement: "a rank death fails the pending call before its deadline with that rank Crashed, and the next call fails fast with ExecutorDead",
  needs: { faultKinds: ["hang"] },
  run: (factory, options) =>
    fc.asyncProperty(deathCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        const { hungRanks, killedRank, timeoutMs, killAfterMs } = testCase
        await injectAll(harness, hungRanks.map((rank) => ({ rank, method: "checkHealth" as const, kind: "hang", count: 1 })))
        const startedMs = harness.nowMs()
        const result = await succeed(harness, "the call pending at the death", callThenKill(harness, killedRank, timeoutMs, killAfterMs))
        const elapsedMs = harness.nowMs() - startedMs
        expectThat(elapsedMs < timeoutMs, `the pending call took ${elapsedMs} ms: it waited out its ${timeoutMs} ms deadline after rank ${killedRank} died at ${killAfterMs} ms`)
        for (const outcome of result.outcomes) {
          const expected = outcome.rank === killedRank ? ["Crashed"] : hungRanks.includes(outcome.rank) ? ["TimedOut", "Crashed"] : ["Ok"]
          expectThat(expected.includes(outcome._tag), `rank ${outcome.rank} is ${outcome._tag}, expected ${expected.join(" or ")} (hung ${showRanks(hungRanks)}, killed ${killedRank})`)
        }
        const laterMs = harness.nowMs()
        const later = await fail(harness, "the call after the death", harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs }))
        expectThat(tagOf(later) === "ExecutorDead", `the call after the death must fail with ExecutorDead, got ${describeError(later)}`)
        const laterElapsedMs = harness.nowMs() - laterMs
        expectThat(laterElapsedMs <= timeSlackMs(harness), `the call after the death took ${laterElapsedMs} ms instead of failing fast`)
      }))
}

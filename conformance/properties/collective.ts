/**
 * AGG-1, AGG-2, AGG-3: one collective call, its per-rank outcomes, and its deadline.
 *
 * Upstream read rank 0's reply and stopped at the first failure, so a call that failed on rank 2
 * looked like success, and a hung rank hung the caller. Method: each case places at most one
 * fault per rank on `checkHealth` (throw, hang, slow before or after the deadline), targets a
 * random subset of ranks, and makes one call through the executor. The outcome each rank must
 * have follows from the fault placed on it, so the whole result can be compared with a reference.
 */
import { Exit } from "effect"
import * as fc from "fast-check"
import type { ClusterHarness, HarnessFactory } from "../../backends/harness.ts"
import { all, type CollectiveRpcError, type RankOutcome } from "../../core/control.ts"
import type { Health } from "../../core/worker.ts"
import { describeCause, failureOf, sameRanks, settle, tagOf, timeSlackMs, withCluster } from "../cluster.ts"
import { expectedOutcomeTag, faultSpecOf, injectAll, type RankFaultPlan, rankFaultPlans, rankSubset, showRanks, worldSizeMax } from "../cases.ts"
import { type ConformanceProperty, expectThat, type PropertyOptions } from "../property.ts"

interface CollectiveCase {
  readonly ranks: number
  readonly seed: number
  readonly targets: ReadonlyArray<number>
  /** The plan of rank r is `plans[r]`; plans of untargeted ranks never fire. */
  readonly plans: ReadonlyArray<RankFaultPlan>
  readonly timeoutMs: number
}

const collectiveCase = (plans: ReadonlyArray<RankFaultPlan>) =>
  fc.integer({ min: 1, max: worldSizeMax }).chain((ranks) =>
    fc.record({
      ranks: fc.constant(ranks),
      seed: fc.nat({ max: 0x7fff_ffff }),
      targets: rankSubset(ranks, 1),
      plans: fc.array(fc.constantFrom(...plans), { minLength: ranks, maxLength: ranks }),
      timeoutMs: fc.integer({ min: 20, max: 400 })
    }))

/** What the call answered, and how long it took in the harness's time. */
interface CallRecord {
  readonly exit: Exit.Exit<ReadonlyArray<Health>, unknown>
  readonly elapsedMs: number
}

/** Places the case's faults, then makes one `checkHealth` call to its targets through the executor. */
const callWithFaults = async (harness: ClusterHarness, testCase: CollectiveCase): Promise<CallRecord> => {
  const specs = testCase.plans.flatMap((plan, rank) => faultSpecOf(rank, "checkHealth", plan, testCase.timeoutMs) ?? [])
  await injectAll(harness, specs)
  const startedMs = harness.nowMs()
  const exit = await settle(harness, "the checkHealth call", harness.executor.collectiveRpc(
    { method: "checkHealth" },
    { ranks: testCase.targets, timeoutMs: testCase.timeoutMs, aggregate: all<Health>() }
  ))
  return { exit, elapsedMs: harness.nowMs() - startedMs }
}

const expectedTags = (testCase: CollectiveCase) => testCase.targets.map((rank) => expectedOutcomeTag(testCase.plans[rank]))

/** Runs `check` on a fresh cluster built for the case. */
const onCluster = (
  factory: HarnessFactory,
  options: PropertyOptions,
  testCase: CollectiveCase,
  check: (record: CallRecord, harness: ClusterHarness) => void
) => withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) =>
  check(await callWithFaults(harness, testCase), harness))

const asCollectiveError = (exit: Exit.Exit<unknown, unknown>): CollectiveRpcError => {
  expectThat(Exit.isFailure(exit), "the call succeeded, but it must fail")
  const error = failureOf(exit)?.value
  expectThat(tagOf(error) === "CollectiveRpcError", `the call must fail with CollectiveRpcError, got ${Exit.isFailure(exit) ? describeCause(exit.cause) : ""}`)
  return error as CollectiveRpcError
}

export const successIffEveryRankOk: ConformanceProperty = {
  id: "AGG-1",
  statement: "an all-rank call succeeds iff every targeted rank is Ok",
  needs: { faultKinds: ["throw", "hang", "slow"] },
  run: (factory, options) =>
    fc.asyncProperty(collectiveCase(rankFaultPlans), (testCase) =>
      onCluster(factory, options, testCase, ({ exit }) => {
        const everyOk = expectedTags(testCase).every((tag) => tag === "Ok")
        if (everyOk) {
          if (Exit.isFailure(exit)) expectThat(false, `every targeted rank ${showRanks(testCase.targets)} is Ok, yet the call failed: ${describeCause(exit.cause)}`)
          const ranks = exit.value.map((health) => health.rank)
          expectThat(sameRanks(ranks, testCase.targets) && ranks.length === testCase.targets.length,
            `the call answered health for ranks ${showRanks(ranks)}, expected ${showRanks(testCase.targets)}`)
          return
        }
        asCollectiveError(exit)
      }))
}

export const errorNamesNonOkRanks: ConformanceProperty = {
  id: "AGG-2",
  statement: "a failed call names exactly the non-Ok ranks with their causes, and a rank without a fault is Ok",
  needs: { faultKinds: ["throw", "hang", "slow"] },
  run: (factory, options) =>
    fc.asyncProperty(collectiveCase(rankFaultPlans), (testCase) =>
      onCluster(factory, options, testCase, ({ exit }) => {
        const expected = expectedTags(testCase)
        if (expected.every((tag) => tag === "Ok")) return
        const error = asCollectiveError(exit)
        checkOutcomes(error.result.outcomes, testCase.targets, expected)
        const nonOk = testCase.targets.filter((_, index) => expected[index] !== "Ok")
        expectThat(sameRanks(error.failedRanks, nonOk), `the error names ranks ${showRanks(error.failedRanks)}, expected ${showRanks(nonOk)}`)
        for (const [index, rank] of testCase.targets.entries()) {
          const named = new RegExp(`\\brank ${rank} (Failed|TimedOut|Crashed|Unreached)`).test(error.message)
          const tag = expected[index]
          expectThat(named === (tag !== "Ok"), `the message ${named ? "names" : "does not name"} rank ${rank}, which is ${tag}: "${error.message}"`)
          if (tag !== "Ok") expectThat(error.message.includes(`rank ${rank} ${tag}`), `the message must give rank ${rank}'s cause ${tag}: "${error.message}"`)
        }
      }))
}

/** One outcome per target, in rank order, each with its expected tag. */
const checkOutcomes = (
  outcomes: ReadonlyArray<RankOutcome<unknown, unknown>>,
  targets: ReadonlyArray<number>,
  expected: ReadonlyArray<string>
) => {
  const ranks = outcomes.map((outcome) => outcome.rank)
  expectThat(JSON.stringify(ranks) === JSON.stringify(targets), `outcomes for ranks ${showRanks(ranks)}, expected one per target ${showRanks(targets)}`)
  const actual = outcomes.map((outcome) => `rank ${outcome.rank} ${outcome._tag}`)
  const wanted = targets.map((rank, index) => `rank ${rank} ${expected[index]}`)
  expectThat(JSON.stringify(actual) === JSON.stringify(wanted), `outcomes ${actual.join(", ")}; expected ${wanted.join(", ")}`)
}

export const hungCallResolvesByDeadline: ConformanceProperty = {
  id: "AGG-3",
  statement: "a call with hung ranks resolves by its deadline, with exactly the hung ranks TimedOut",
  needs: { faultKinds: ["hang", "slow"] },
  run: (factory, options) =>
    fc.asyncProperty(
      collectiveCase(["none", "hang", "slowOnTime"]).filter((testCase) => testCase.targets.some((rank) => testCase.plans[rank] === "hang")),
      (testCase) =>
        onCluster(factory, options, testCase, ({ exit, elapsedMs }, harness) => {
          const boundMs = testCase.timeoutMs + timeSlackMs(harness)
          expectThat(elapsedMs <= boundMs, `the call took ${elapsedMs} ms, past its deadline of ${testCase.timeoutMs} ms`)
          checkOutcomes(asCollectiveError(exit).result.outcomes, testCase.targets, expectedTags(testCase))
        })
    )
}

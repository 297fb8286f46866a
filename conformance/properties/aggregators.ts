/**
 * AGG-6: aggregated values equal a reference computed from the per-rank values.
 *
 * Method: each case puts a random subset of ranks to sleep and adds an adapter on another random
 * subset, both behind the engine's back through raw collective calls, so the ranks really differ.
 * Then: an aggregator named `and` over "is this rank awake?" must be true iff nobody sleeps; a
 * `sum` over every rank's used bytes must equal the sum of the same values read raw; and the
 * engine's `listLoras` (an `agree`) must answer the common list when the ranks agree, else a
 * `RankDivergence` whose groups are exactly the holders and the others, naming the minority.
 */
import * as fc from "fast-check"
import type { ClusterHarness } from "../../backends/harness.ts"
import { type Aggregator, and, type CollectiveResult, type RankDivergence, sum } from "../../core/control.ts"
import type { Health } from "../../core/worker.ts"
import { allRanks, describeError, fail, sameRanks, succeed, tagOf, withCluster } from "../cluster.ts"
import { rankSubset, showRanks, worldSizeMax } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

const timeoutMs = 5_000

const aggregationCase = fc.integer({ min: 1, max: worldSizeMax }).chain((ranks) =>
  fc.record({
    ranks: fc.constant(ranks),
    seed: fc.nat({ max: 0x7fff_ffff }),
    sleepers: rankSubset(ranks),
    holders: rankSubset(ranks),
    adapterId: fc.integer({ min: 1, max: 64 })
  }))

/** The result with every Ok value mapped; other outcomes stay as they are. */
const mapOk = <A, B>(result: CollectiveResult<A, unknown>, f: (value: A) => B): CollectiveResult<B, unknown> => ({
  ...result,
  outcomes: result.outcomes.map((outcome) => (outcome._tag === "Ok" ? { ...outcome, value: f(outcome.value) } : outcome))
})

/** Named "and" on purpose: it is an AND over the ranks, and the core may swap aggregators by name. */
const awakeEverywhere: Aggregator<Health, boolean> = {
  name: "and",
  aggregate: (result) => and.aggregate(mapOk(result, (health) => !health.asleep))
}

const usedBytesTotal: Aggregator<Health, number> = {
  name: "sum",
  aggregate: (result) => sum.aggregate(mapOk(result, (health) => health.usedBytes))
}

/** Runs a raw wave on `ranks` that must be Ok everywhere: it sets the ranks up for the case. */
const setUp = async (harness: ClusterHarness, what: string, call: Parameters<ClusterHarness["executor"]["collectiveResult"]>[0], ranks: ReadonlyArray<number>) => {
  if (ranks.length === 0) return
  const result = await succeed(harness, what, harness.executor.collectiveResult(call, { ranks, timeoutMs }))
  const notOk = result.outcomes.filter((outcome) => outcome._tag !== "Ok").map((outcome) => outcome.rank)
  expectThat(notOk.length === 0, `setting up (${what}) failed on ranks ${showRanks(notOk)}`)
}

const checkAnd = async (harness: ClusterHarness, sleepers: ReadonlyArray<number>) => {
  const awake = await succeed(harness, "checkHealth aggregated with and", harness.executor.collectiveRpc({ method: "checkHealth" }, { timeoutMs, aggregate: awakeEverywhere }))
  expectThat(awake === (sleepers.length === 0), `and over "awake" answered ${awake}, but ranks ${showRanks(sleepers)} sleep`)
}

const checkSum = async (harness: ClusterHarness) => {
  const raw = await succeed(harness, "checkHealth read raw", harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs }))
  const reference = raw.outcomes.reduce((total, outcome) => total + (outcome._tag === "Ok" ? outcome.value.usedBytes : Number.NaN), 0)
  const total = await succeed(harness, "checkHealth aggregated with sum", harness.executor.collectiveRpc({ method: "checkHealth" }, { timeoutMs, aggregate: usedBytesTotal }))
  expectThat(total === reference, `sum of used bytes answered ${total}, the per-rank values sum to ${reference}`)
}

/** The ranks `RankDivergence` must name: those outside the larger group (a tie keeps rank 0's group). */
const minorityOf = (holders: ReadonlyArray<number>, others: ReadonlyArray<number>): ReadonlyArray<number> => {
  const holdersWin = holders.length > others.length || (holders.length === others.length && holders[0] < others[0])
  return holdersWin ? others : holders
}

const checkAgree = async (harness: ClusterHarness, holders: ReadonlyArray<number>, adapterId: number) => {
  const others = allRanks(harness.worldSize).filter((rank) => !holders.includes(rank))
  if (holders.length === 0 || others.length === 0) {
    const list = await succeed(harness, "listLoras on agreeing ranks", harness.engine.listLoras({ timeoutMs }))
    const expected = holders.length === 0 ? [] : [adapterId]
    expectThat(JSON.stringify(list) === JSON.stringify(expected), `listLoras answered ${JSON.stringify(list)}, every rank holds ${JSON.stringify(expected)}`)
    return
  }
  const error = await fail(harness, "listLoras on divergent ranks", harness.engine.listLoras({ timeoutMs }))
  expectThat(tagOf(error) === "RankDivergence", `ranks ${showRanks(holders)} hold adapter ${adapterId} and ${showRanks(others)} do not, so listLoras must fail with RankDivergence, got ${describeError(error)}`)
  const divergence = error as RankDivergence
  const groups = divergence.groups.map((group) => `${showRanks(group.ranks)}=${JSON.stringify(group.value)}`).sort()
  const expectedGroups = [`${showRanks(holders)}=${JSON.stringify([adapterId])}`, `${showRanks(others)}=[]`].sort()
  expectThat(JSON.stringify(groups) === JSON.stringify(expectedGroups), `divergence groups ${groups.join(" ")}, expected ${expectedGroups.join(" ")}`)
  const minority = minorityOf(holders, others)
  expectThat(sameRanks(divergence.divergentRanks, minority), `RankDivergence names ranks ${showRanks(divergence.divergentRanks)}, the ranks that differ are ${showRanks(minority)}`)
}

export const aggregatesMatchReference: ConformanceProperty = {
  id: "AGG-6",
  statement: "and, sum and agree aggregate to the value a reference computes from the per-rank values",
  run: (factory, options) =>
    fc.asyncProperty(aggregationCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        await setUp(harness, "sleep on a subset", { method: "sleep", level: 1 }, testCase.sleepers)
        await setUp(harness, "addLora on a subset", { method: "addLora", adapter: { id: testCase.adapterId, name: `adapter-${testCase.adapterId}` } }, testCase.holders)
        await checkAnd(harness, testCase.sleepers)
        await checkSum(harness)
        await checkAgree(harness, testCase.holders, testCase.adapterId)
      }))
}

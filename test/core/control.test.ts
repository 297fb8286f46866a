// Goal: every aggregator succeeds only when every targeted rank is Ok, names exactly the ranks
// that were not Ok, and computes the same value as a straightforward reference; malformed
// results are our bug and throw InvariantViolation.
// Method: fast-check generates collective results with one outcome per rank of a random ordered
// subset of ranks 0..7 and random outcome tags (all-Ok half the time, so success paths are
// exercised), and compares each aggregator with a reference written independently below.
import { fc, test } from "@fast-check/vitest"
import { Result } from "effect"
import { isDeepStrictEqual } from "node:util"
import { describe, expect } from "vitest"
import { ModelError } from "../../core/errors.ts"
import {
  agree,
  type Aggregator,
  all,
  and,
  type CollectiveResult,
  fromRank,
  isIndefinite,
  type RankOutcome,
  sum
} from "../../core/control.ts"

const worldRanks = [0, 1, 2, 3, 4, 5, 6, 7]

const notOkOutcome = (rank: number): fc.Arbitrary<RankOutcome<never, unknown>> =>
  fc.oneof(
    fc.oneof(fc.string({ maxLength: 8 }).map((reason) => new ModelError({ reason })), fc.string({ maxLength: 8 }))
      .map((error) => ({ _tag: "Failed" as const, rank, error })),
    fc.nat(60_000).map((afterMs) => ({ _tag: "TimedOut" as const, rank, afterMs })),
    fc.constantFrom("SIGKILL", "exit 1").map((reason) => ({
      _tag: "Crashed" as const, rank, exit: { code: reason === "exit 1" ? 1 : null, signal: reason === "SIGKILL" ? reason : null, reason }
    })),
    fc.constantFrom("executor closed", "earlier rank failed").map((reason) => ({ _tag: "Unreached" as const, rank, reason }))
  )

/** One outcome per rank of a random ordered subset of ranks 0..7; all Ok about half the time. */
const collective = <A>(value: fc.Arbitrary<A>): fc.Arbitrary<CollectiveResult<A, unknown>> =>
  fc.record({
    method: fc.constantFrom("addLora", "listLoras", "sleep", "checkHealth"),
    waveId: fc.nat(1000),
    ranks: fc.subarray(worldRanks, { minLength: 1 }),
    allOk: fc.boolean()
  }).chain(({ method, waveId, ranks, allOk }) =>
    fc.tuple(...ranks.map((rank) => {
      const ok = value.map((inner) => ({ _tag: "Ok" as const, rank, value: inner, elapsedMs: 1 }))
      return allOk ? ok : fc.oneof(ok, notOkOutcome(rank))
    })).map((outcomes): CollectiveResult<A, unknown> => ({ method, waveId, outcomes }))
  )

// The reference: written without looking at how the aggregators compute.
const referenceFailedRanks = (result: CollectiveResult<unknown, unknown>) =>
  result.outcomes.filter((outcome) => outcome._tag !== "Ok").map((outcome) => outcome.rank)
const referenceValues = <A>(result: CollectiveResult<A, unknown>): ReadonlyArray<A> =>
  result.outcomes.flatMap((outcome) => (outcome._tag === "Ok" ? [outcome.value] : []))

/** Checks the failure side shared by every aggregator, and returns the Ok values otherwise. */
const expectAllOkOrNamed = <A, B>(aggregator: Aggregator<A, B>, result: CollectiveResult<A, unknown>) => {
  const failedRanks = referenceFailedRanks(result)
  const answer = aggregator.aggregate(result)
  if (failedRanks.length === 0) return answer
  expect(Result.isFailure(answer)).toBe(true)
  if (Result.isFailure(answer)) {
    const failure = answer.failure
    expect(failure._tag).toBe("CollectiveRpcError")
    if (failure._tag === "CollectiveRpcError") {
      expect(failure.failedRanks).toEqual(failedRanks)
      for (const outcome of result.outcomes) {
        if (outcome._tag !== "Ok") expect(failure.message).toMatch(new RegExp(`\\brank ${outcome.rank} ${outcome._tag}\\b`))
      }
      expect(failure.message).toContain(`failed on ${failedRanks.length} of ${result.outcomes.length} ranks`)
    }
  }
  return undefined
}

const successOf = <A, E>(result: Result.Result<A, E> | undefined): A => {
  if (result === undefined || Result.isFailure(result)) throw new Error(`expected a success, got ${String(result)}`)
  return result.success
}

describe("aggregators", () => {
  test.prop([collective(fc.integer())])("all succeeds only when every rank is Ok, with the values in rank order, and names each failed rank", (result) => {
    const answer = expectAllOkOrNamed(all<number>(), result)
    if (answer !== undefined) expect(successOf(answer)).toEqual(referenceValues(result))
  })

  test.prop([collective(fc.boolean())])("and equals the AND of every rank's boolean when all are Ok", (result) => {
    const answer = expectAllOkOrNamed(and, result)
    if (answer !== undefined) expect(successOf(answer)).toBe(referenceValues(result).every((value) => value))
  })

  test.prop([collective(fc.integer({ min: -1_000_000, max: 1_000_000 }))])("sum equals the sum of every rank's number when all are Ok", (result) => {
    const answer = expectAllOkOrNamed(sum, result)
    if (answer !== undefined) expect(successOf(answer)).toBe(referenceValues(result).reduce((total, value) => total + value, 0))
  })

  // A small pool so that ranks often agree; the two key orders of one object must count as equal.
  const listing = fc.constantFrom<unknown>([], [1], [1, 2], [2, 1], { id: 1, name: "a" }, { name: "a", id: 1 }, "x", 3, true, null)

  test.prop([collective(listing)])(
    "agree returns the common value when every rank is Ok and equal, else a RankDivergence whose groups partition the ranks",
    (result) => {
      const answer = expectAllOkOrNamed(agree<unknown>(), result)
      if (answer === undefined) return
      const values = referenceValues(result)
      if (values.every((value) => isDeepStrictEqual(value, values[0]))) {
        expect(successOf(answer)).toEqual(values[0])
        return
      }
      expect(Result.isFailure(answer)).toBe(true)
      if (Result.isSuccess(answer) || answer.failure._tag !== "RankDivergence") throw new Error("expected RankDivergence")
      const { groups, method, waveId } = answer.failure
      expect([method, waveId]).toEqual([result.method, result.waveId])
      expect(groups.flatMap((group) => group.ranks).sort((a, b) => a - b)).toEqual(result.outcomes.map((outcome) => outcome.rank))
      const valueOf = new Map(result.outcomes.map((outcome) => [outcome.rank, outcome._tag === "Ok" ? outcome.value : undefined]))
      for (const group of groups) {
        for (const rank of group.ranks) expect(isDeepStrictEqual(valueOf.get(rank), group.value)).toBe(true)
      }
      for (const [index, group] of groups.entries()) {
        for (const other of groups.slice(index + 1)) expect(isDeepStrictEqual(group.value, other.value)).toBe(false)
      }
      const majority = Math.max(...groups.map((group) => group.ranks.length))
      expect(answer.failure.divergentRanks.length).toBe(result.outcomes.length - majority)
    }
  )

  test.prop([collective(fc.string({ maxLength: 4 })), fc.nat()])(
    "fromRank(k) returns rank k's value only when every rank is Ok",
    (result, pick) => {
      const rank = result.outcomes[pick % result.outcomes.length].rank
      const answer = expectAllOkOrNamed(fromRank<string>(rank), result)
      if (answer === undefined) return
      const outcome = result.outcomes.find((candidate) => candidate.rank === rank)
      expect(successOf(answer)).toBe(outcome?._tag === "Ok" ? outcome.value : "not Ok")
    }
  )

  test.prop([collective(fc.constant(0)).filter((result) => result.outcomes.length < worldRanks.length)])(
    "fromRank of a rank that was not targeted throws InvariantViolation when every rank is Ok",
    (result) => {
      fc.pre(referenceFailedRanks(result).length === 0)
      const targeted = new Set(result.outcomes.map((outcome) => outcome.rank))
      const missing = worldRanks.find((rank) => !targeted.has(rank)) ?? -1
      expect(() => fromRank<number>(missing).aggregate(result)).toThrow(expect.objectContaining({ name: "InvariantViolation" }))
    }
  )
})

describe("malformed results", () => {
  /** A well-formed result broken by a duplicated rank or two ranks swapped. */
  const malformed = fc.record({
    result: collective(fc.constant(1)).filter((result) => result.outcomes.length >= 2),
    duplicate: fc.boolean(),
    at: fc.nat()
  }).map(({ result, duplicate, at }) => {
    const outcomes = [...result.outcomes]
    const index = at % (outcomes.length - 1)
    if (duplicate) outcomes.splice(index + 1, 0, outcomes[index])
    else [outcomes[index], outcomes[index + 1]] = [outcomes[index + 1], outcomes[index]]
    return { ...result, outcomes }
  })
  // The shape check comes before any value is read, so the value type does not matter here.
  const aggregates: ReadonlyArray<(result: CollectiveResult<never, unknown>) => unknown> =
    [all().aggregate, and.aggregate, sum.aggregate, agree().aggregate, fromRank(0).aggregate]

  test.prop([malformed, fc.constantFrom(...aggregates)])(
    "every aggregator throws InvariantViolation on duplicate or unordered ranks",
    (result, aggregate) => {
      expect(() => aggregate(result as CollectiveResult<never, unknown>)).toThrow(expect.objectContaining({ name: "InvariantViolation" }))
    }
  )
})

describe("isIndefinite", () => {
  test.prop([fc.constantFrom(...worldRanks).chain((rank) => fc.oneof(notOkOutcome(rank), fc.constant({ _tag: "Ok" as const, rank, value: 0, elapsedMs: 0 })))])(
    "is true exactly for TimedOut and Crashed",
    (outcome) => {
      expect(isIndefinite(outcome)).toBe(outcome._tag === "TimedOut" || outcome._tag === "Crashed")
    }
  )
})

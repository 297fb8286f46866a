/**
 * The control-plane envelope: one outcome per targeted rank, and aggregators that decide what
 * a collective call means.
 *
 * Upstream read only rank 0's reply, so a LoRA add that failed on rank 2 looked like success.
 * Here every all-rank call yields a `CollectiveResult` with exactly one `RankOutcome` per targeted
 * rank, ordered by rank, and an aggregator turns it into a value or a typed error that names
 * every rank that was not Ok. Aggregators are pure functions over outcomes that have already been
 * gathered (settle-style: the executor never stops gathering at the first failure).
 */
import { Data, Result } from "effect"
import { assert } from "./assert.ts"

/** Why a rank process ended; `reason` is a human summary (for example "SIGKILL", "exit 1"). */
export interface ExitInfo {
  readonly code: number | null
  readonly signal: string | null
  readonly reason: string
}

/**
 * What one rank did with one call.
 * - `Ok` and `Failed` are definite: the rank says it applied, or did not apply, the call.
 * - `TimedOut` and `Crashed` are indefinite: the rank may or may not have applied it.
 * - `Unreached` is definite: the call was never sent to that rank.
 */
export type RankOutcome<A, E> =
  | { readonly _tag: "Ok"; readonly rank: number; readonly value: A; readonly elapsedMs: number }
  | { readonly _tag: "Failed"; readonly rank: number; readonly error: E }
  | { readonly _tag: "TimedOut"; readonly rank: number; readonly afterMs: number }
  | { readonly _tag: "Crashed"; readonly rank: number; readonly exit: ExitInfo }
  | { readonly _tag: "Unreached"; readonly rank: number; readonly reason: string }

export type RankOutcomeTag = RankOutcome<unknown, unknown>["_tag"]

/** The raw answer of one collective call (one wave). */
export interface CollectiveResult<A, E> {
  readonly method: string
  readonly waveId: number
  readonly outcomes: ReadonlyArray<RankOutcome<A, E>>
}

/** True when the outcome leaves open whether the rank applied the call. */
export const isIndefinite = (outcome: RankOutcome<unknown, unknown>): boolean =>
  outcome._tag === "TimedOut" || outcome._tag === "Crashed"

/** One line per outcome for messages: "rank 2 Failed (LoraInvalid: ...)". */
export const describeOutcome = (outcome: RankOutcome<unknown, unknown>): string => {
  switch (outcome._tag) {
    case "Ok":
      return `rank ${outcome.rank} Ok`
    case "Failed":
      return `rank ${outcome.rank} Failed (${describeError(outcome.error)})`
    case "TimedOut":
      return `rank ${outcome.rank} TimedOut (no answer after ${outcome.afterMs} ms)`
    case "Crashed":
      return `rank ${outcome.rank} Crashed (${outcome.exit.reason})`
    case "Unreached":
      return `rank ${outcome.rank} Unreached (${outcome.reason})`
  }
}

const describeError = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const message = (error as { message?: unknown }).message
    return typeof message === "string" && message.length > 0 ? `${String(error._tag)}: ${message}` : String(error._tag)
  }
  return String(error)
}

/** Ranks whose outcome is not Ok, in rank order. */
export const nonOkRanks = (result: CollectiveResult<unknown, unknown>): ReadonlyArray<number> =>
  result.outcomes.filter((outcome) => outcome._tag !== "Ok").map((outcome) => outcome.rank)

/**
 * A collective call did not succeed on every targeted rank. It carries every outcome, so a
 * caller can act per rank (compensate, retry, report), and its message names every non-Ok rank
 * with its cause.
 */
export class CollectiveRpcError extends Data.TaggedError("CollectiveRpcError")<{
  readonly result: CollectiveResult<unknown, unknown>
}> {
  get failedRanks(): ReadonlyArray<number> { return nonOkRanks(this.result) }
  override get message() {
    const failed = this.result.outcomes.filter((outcome) => outcome._tag !== "Ok").map(describeOutcome)
    return `${this.result.method} (wave ${this.result.waveId}) failed on ${failed.length} of ${this.result.outcomes.length} ranks: ${failed.join("; ")}`
  }
}

/** Every rank answered, but not with the same value; `groups` lists who answered what. */
export class RankDivergence extends Data.TaggedError("RankDivergence")<{
  readonly method: string
  readonly waveId: number
  readonly groups: ReadonlyArray<{ readonly ranks: ReadonlyArray<number>; readonly value: unknown }>
}> {
  /** Ranks outside the largest group (ties broken by lowest rank): the ones that differ. */
  get divergentRanks(): ReadonlyArray<number> {
    const [majority] = [...this.groups].sort((a, b) => b.ranks.length - a.ranks.length || a.ranks[0] - b.ranks[0])
    return this.groups.filter((group) => group !== majority).flatMap((group) => group.ranks).sort((a, b) => a - b)
  }
  override get message() {
    const groups = this.groups.map((group) => `ranks ${group.ranks.join(", ")} answered ${canonicalJson(group.value)}`)
    return `${this.method} (wave ${this.waveId}): ranks disagree: ${groups.join("; ")}`
  }
}

export type AggregateError = CollectiveRpcError | RankDivergence

/**
 * An aggregator decides the success value of a collective call from its gathered outcomes.
 * Every aggregator requires every targeted rank to be Ok; they differ in the value they return.
 */
export interface Aggregator<A, B> {
  readonly name: string
  readonly aggregate: (result: CollectiveResult<A, unknown>) => Result.Result<B, AggregateError>
}

/** Checks the shape every aggregator relies on: one outcome per rank, ordered, none twice. */
export const assertWellFormed = (result: CollectiveResult<unknown, unknown>): void => {
  assert(result.outcomes.length > 0, () => `a collective result of ${result.method} has at least one outcome`)
  const ranks = result.outcomes.map((outcome) => outcome.rank)
  for (let index = 1; index < ranks.length; index++) {
    assert(ranks[index - 1] < ranks[index], () => `outcomes of ${result.method} are ordered by rank, each rank once`)
  }
}

/** Collects Ok values when every rank is Ok, else a `CollectiveRpcError`. */
const okValues = <A>(result: CollectiveResult<A, unknown>): Result.Result<ReadonlyArray<A>, CollectiveRpcError> => {
  assertWellFormed(result)
  const values: Array<A> = []
  for (const outcome of result.outcomes) {
    if (outcome._tag !== "Ok") return Result.fail(new CollectiveRpcError({ result }))
    values.push(outcome.value)
  }
  return Result.succeed(values)
}

/** Every rank Ok → the values in rank order. Use for calls whose per-rank values all matter. */
export const all = <A>(): Aggregator<A, ReadonlyArray<A>> => ({ name: "all", aggregate: okValues })

/** Every rank Ok → the AND of their booleans. Use for yes/no questions asked of every rank. */
export const and: Aggregator<boolean, boolean> = {
  name: "and",
  aggregate: (result) => Result.map(okValues(result), (values) => values.every((value) => value === true))
}

/** Every rank Ok → the sum of their numbers (for example freed bytes). */
export const sum: Aggregator<number, number> = {
  name: "sum",
  aggregate: (result) => Result.map(okValues(result), (values) => values.reduce((total, value) => total + value, 0))
}

/**
 * Every rank Ok and every value equal (structurally, as canonical JSON) → that value; unequal
 * values → `RankDivergence` naming who answered what. Use where ranks must hold the same state
 * (`listLoras`): upstream returned rank 0's list and hid the divergence.
 */
export const agree = <A>(): Aggregator<A, A> => ({
  name: "agree",
  aggregate: (result) =>
    Result.flatMap(okValues(result), (values) => {
      const groups = groupByValue(result.outcomes.map((outcome, index) => ({ rank: outcome.rank, value: values[index] })))
      if (groups.length <= 1) return Result.succeed(values[0])
      return Result.fail(new RankDivergence({ method: result.method, waveId: result.waveId, groups }))
    })
})

/**
 * The data plane: every rank must be Ok (a failure on any rank fails the batch, whichever rank
 * answered first), and the value is the one of `rank` (the output rank).
 */
export const fromRank = <A>(rank: number): Aggregator<A, A> => ({
  name: `fromRank(${rank})`,
  aggregate: (result) =>
    Result.map(okValues(result), (values) => {
      const index = result.outcomes.findIndex((outcome) => outcome.rank === rank)
      assert(index >= 0, () => `fromRank(${rank}): the output rank is among the targeted ranks`)
      return values[index]
    })
})

const groupByValue = <A>(entries: ReadonlyArray<{ rank: number; value: A }>) => {
  const groups = new Map<string, { ranks: Array<number>; value: A }>()
  for (const entry of entries) {
    const key = canonicalJson(entry.value)
    const group = groups.get(key)
    if (group) group.ranks.push(entry.rank)
    else groups.set(key, { ranks: [entry.rank], value: entry.value })
  }
  return [...groups.values()]
}

/** JSON with object keys sorted, so equal structures give equal strings. */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner
  ) ?? "undefined"

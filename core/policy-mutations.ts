/**
 * The broken alternatives of the executor's decisions, used only when a policy asks for them
 * (conformance mutants). Kept apart from the correct code so the correct path reads plainly.
 */
import { Result } from "effect"
import { type Aggregator, assertWellFormed, type CollectiveResult, CollectiveRpcError, type RankOutcome } from "./control.ts"
import type { CorePolicy } from "./policy.ts"

/** Rereads a gathered wave the way a (possibly broken) policy says. */
export const readWave = <A, E>(result: CollectiveResult<A, E>, policy: CorePolicy): CollectiveResult<A, E> => {
  if (policy.waveReading !== "rank-0-only") return result
  // Upstream's bug: only rank 0 answers, and its answer stands for every rank.
  const first = result.outcomes[0]
  const outcomes = result.outcomes.map((outcome): RankOutcome<A, E> => ({ ...first, rank: outcome.rank }))
  return { ...result, outcomes }
}

/** OR instead of AND over the ranks' booleans. */
export const or: Aggregator<boolean, boolean> = {
  name: "or",
  aggregate: (result) => {
    assertWellFormed(result)
    const values = result.outcomes.flatMap((outcome) => (outcome._tag === "Ok" ? [outcome.value] : []))
    return values.length === 0 ? Result.fail(new CollectiveRpcError({ result })) : Result.succeed(values.some(Boolean))
  }
}

/** The data plane reading only the output rank: a failure elsewhere goes unseen. */
export const outputRankOnly = <A>(rank: number): Aggregator<A, A> => ({
  name: `outputRankOnly(${rank})`,
  aggregate: (result) => {
    const outcome = result.outcomes.find((candidate) => candidate.rank === rank)
    return outcome?._tag === "Ok" ? Result.succeed(outcome.value) : Result.fail(new CollectiveRpcError({ result }))
  }
})

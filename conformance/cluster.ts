/**
 * How a property drives a cluster: start a fresh one per case, run effects to their end within a
 * budget, read what the engine believes and what the ranks really hold, dispose.
 *
 * Every property goes through here, so each gets the same guarantees: the mutant's policy reaches
 * every cluster a property starts, a cluster is always disposed (even when the case fails), and an
 * effect that does not finish within its budget is a violation (a hang is a failure, never a
 * stalled test run). Budgets are milliseconds of the harness's time: virtual on the simulator,
 * where they cost nothing, real on a process backend.
 */
import { Cause, Effect, Exit } from "effect"
import type { ClusterHarness, HarnessFactory, HarnessOptions, RankTruth } from "../backends/harness.ts"
import type { EngineState } from "../core/engine.ts"
import type { RankView } from "../core/rank-views.ts"
import { expectThat, type PropertyOptions } from "./property.ts"

/** Budget of one step when a property names none: far above any correct answer. */
export const stepBudgetMs = 120_000

/**
 * Slack on a time bound: none on virtual time (a bound is exact there), and room for scheduling
 * and IPC jitter on the wall clock.
 */
export const timeSlackMs = (harness: ClusterHarness): number => (harness.virtualTime ? 0 : 250)

/** The cluster a case asks for; the policy comes from the property's options. */
export type ClusterOptions = Omit<HarnessOptions, "policy">

/** Starts a cluster for one case, runs `body` on it, and disposes it whatever happens. */
export const withCluster = async <A>(
  factory: HarnessFactory,
  options: PropertyOptions,
  cluster: ClusterOptions,
  body: (harness: ClusterHarness) => Promise<A>
): Promise<A> => {
  const harness = await factory.start({ ...cluster, policy: options.policy })
  try {
    return await body(harness)
  } finally {
    await harness.dispose()
  }
}

/** Runs `effect` to its end; not finishing within `budgetMs` is a violation named by `what`. */
export const settle = async <A, E>(
  harness: ClusterHarness,
  what: string,
  effect: Effect.Effect<A, E>,
  budgetMs: number = stepBudgetMs
): Promise<Exit.Exit<A, E>> => {
  const result = await harness.run(effect, budgetMs)
  expectThat(result._tag !== "Stuck", `${what} never ended: it waits on something that can never happen`)
  expectThat(result._tag !== "BudgetExceeded", `${what} did not end within ${budgetMs} ms`)
  return result.exit
}

/** Runs `effect` and answers its value; a failure or defect is a violation. */
export const succeed = async <A, E>(
  harness: ClusterHarness,
  what: string,
  effect: Effect.Effect<A, E>,
  budgetMs?: number
): Promise<A> => {
  const exit = await settle(harness, what, effect, budgetMs)
  if (Exit.isFailure(exit)) expectThat(false, `${what} failed: ${describeCause(exit.cause)}`)
  return exit.value
}

/** Runs `effect` and answers its typed error; success or a defect is a violation. */
export const fail = async <A, E>(
  harness: ClusterHarness,
  what: string,
  effect: Effect.Effect<A, E>,
  budgetMs?: number
): Promise<E> => {
  const exit = await settle(harness, what, effect, budgetMs)
  expectThat(Exit.isFailure(exit), `${what} succeeded, but it must fail`)
  const error = failureOf(exit)
  expectThat(error !== undefined, `${what} must fail with a typed error, but ended with ${describeCause(exit.cause)}`)
  return error.value
}

/** The typed error of a failed exit, wrapped so `undefined` errors stay distinguishable. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): { readonly value: E } | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  return reason === undefined ? undefined : { value: reason.error }
}

/** True when the exit holds a defect (a die): a typed contract never answers with one. */
export const hasDefect = <A, E>(exit: Exit.Exit<A, E>): boolean => Exit.isFailure(exit) && Cause.hasDies(exit.cause)

/** A one-paragraph description of a cause for violation messages. */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure) return describeError(failure.error)
  return Cause.pretty(cause).split("\n").slice(0, 3).join(" ")
}

/** `Tag: message` of a tagged error, else its string form. */
export const describeError = (error: unknown): string => {
  const tagged = error as { readonly _tag?: unknown; readonly message?: unknown } | null
  if (tagged && typeof tagged === "object" && typeof tagged._tag === "string") {
    return typeof tagged.message === "string" && tagged.message.length > 0 ? `${tagged._tag}: ${tagged.message}` : tagged._tag
  }
  return String(error)
}

/** The `_tag` of an error, or undefined when it has none. */
export const tagOf = (error: unknown): string | undefined => {
  const tag = (error as { readonly _tag?: unknown } | null)?._tag
  return typeof tag === "string" ? tag : undefined
}

/** What the engine believes and what the ranks hold, read in one step. */
export interface Snapshot {
  readonly state: EngineState
  readonly views: ReadonlyArray<RankView>
  readonly truth: ReadonlyArray<RankTruth>
}

export const snapshot = (harness: ClusterHarness): Promise<Snapshot> =>
  succeed(harness, "reading engine state, views and rank truth", Effect.gen(function* () {
    const state = yield* harness.engine.state
    const views = yield* harness.engine.views
    const truth = yield* harness.faults.truth()
    return { state, views, truth }
  }))

/** The ranks of the cluster, 0 to worldSize - 1. */
export const allRanks = (worldSize: number): ReadonlyArray<number> => Array.from({ length: worldSize }, (_, rank) => rank)

/** Ascending list, each once: how rank sets are compared and printed. */
export const sortedRanks = (ranks: Iterable<number>): ReadonlyArray<number> => [...new Set(ranks)].sort((a, b) => a - b)

export const sameRanks = (left: Iterable<number>, right: Iterable<number>): boolean =>
  JSON.stringify(sortedRanks(left)) === JSON.stringify(sortedRanks(right))

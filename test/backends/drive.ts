/**
 * Driving a wall-clock harness from a test: run an effect within a real-time budget and take its
 * exit, its value, or its typed failure. Shared by the process and NATS backend tests.
 */
import { type Effect, Exit } from "effect"
import type { ClusterHarness } from "../../backends/harness.ts"

/** Runs `effect` on the harness within a generous real-time budget; answers its exit. */
export const exitOf = async <A, E>(harness: ClusterHarness, effect: Effect.Effect<A, E>, budgetMs = 15_000) => {
  const result = await harness.run(effect, budgetMs)
  if (result._tag !== "Done") throw new Error(`the drive did not finish within ${budgetMs} ms`)
  return result.exit
}

export const valueOf = async <A, E>(harness: ClusterHarness, effect: Effect.Effect<A, E>, budgetMs?: number): Promise<A> => {
  const exit = await exitOf(harness, effect, budgetMs)
  if (Exit.isFailure(exit)) throw new Error(`expected a success, got: ${String(exit.cause)}`)
  return exit.value
}

export const errorOf = async <A, E>(harness: ClusterHarness, effect: Effect.Effect<A, E>, budgetMs?: number): Promise<E> => {
  const exit = await exitOf(harness, effect, budgetMs)
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const reason = exit.cause.reasons.find((inner) => inner._tag === "Fail")
  if (reason?._tag !== "Fail") throw new Error(`expected a typed failure, got: ${String(exit.cause)}`)
  return reason.error
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

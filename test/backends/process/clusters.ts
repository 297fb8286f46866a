/**
 * Clusters for tests: each test gets its own rank processes and gives them back, proven gone.
 *
 * `withHarness` and `withCluster` start, run the test body, then dispose and check that every
 * pid of the cluster is gone, whether the body passed or threw. Tests that own their cluster this
 * way can run concurrently (they mostly wait on real time), which keeps the folder fast.
 */
import { Exit, type Effect } from "effect"
import { expect } from "vitest"
import type { HarnessOptions } from "../../../backends/harness.ts"
import { type ProcessCluster, type ProcessClusterOptions, startProcessCluster } from "../../../backends/process/cluster.ts"
import { type ProcessClusterHarness, type ProcessHarnessExtras, startProcessHarness } from "../../../backends/process/harness.ts"
import { waitUntilGone } from "./pids.ts"

/** How long a disposed cluster's pids get to disappear. */
const goneBoundMs = 3_000

export const withHarness = async <A>(
  options: Partial<HarnessOptions> & { readonly ranks: number },
  body: (harness: ProcessClusterHarness) => Promise<A>,
  extras: ProcessHarnessExtras = {}
): Promise<A> => {
  const harness = await startProcessHarness({ seed: 1, ...options }, extras)
  try {
    return await body(harness)
  } finally {
    await harness.dispose()
    expect(await waitUntilGone(harness.cluster.pids, goneBoundMs)).toEqual([])
  }
}

export const withCluster = async <A>(options: ProcessClusterOptions, body: (cluster: ProcessCluster) => Promise<A>): Promise<A> => {
  const cluster = await startProcessCluster(options)
  try {
    return await body(cluster)
  } finally {
    await cluster.dispose()
    expect(await waitUntilGone(cluster.pids, goneBoundMs)).toEqual([])
  }
}

/** Runs `effect` on the harness within a generous real-time budget; answers its exit. */
export const exitOf = async <A, E>(harness: ProcessClusterHarness, effect: Effect.Effect<A, E>, budgetMs = 15_000) => {
  const result = await harness.run(effect, budgetMs)
  if (result._tag !== "Done") throw new Error(`the drive did not finish within ${budgetMs} ms`)
  return result.exit
}

export const valueOf = async <A, E>(harness: ProcessClusterHarness, effect: Effect.Effect<A, E>, budgetMs?: number): Promise<A> => {
  const exit = await exitOf(harness, effect, budgetMs)
  if (Exit.isFailure(exit)) throw new Error(`expected a success, got: ${String(exit.cause)}`)
  return exit.value
}

export const errorOf = async <A, E>(harness: ProcessClusterHarness, effect: Effect.Effect<A, E>, budgetMs?: number): Promise<E> => {
  const exit = await exitOf(harness, effect, budgetMs)
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const reason = exit.cause.reasons.find((inner) => inner._tag === "Fail")
  if (reason?._tag !== "Fail") throw new Error(`expected a typed failure, got: ${String(exit.cause)}`)
  return reason.error
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `condition` until it holds or `boundMs` passes. */
export const eventually = async (condition: () => boolean | Promise<boolean>, boundMs = 3_000): Promise<void> => {
  const deadline = performance.now() + boundMs
  while (!(await condition()) && performance.now() < deadline) await sleep(25)
}

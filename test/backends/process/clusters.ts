/**
 * Clusters for tests: each test gets its own rank processes and gives them back, proven gone.
 *
 * `withHarness` and `withCluster` start, run the test body, then dispose and check that every
 * pid of the cluster is gone, whether the body passed or threw. Tests that own their cluster this
 * way can run concurrently (they mostly wait on real time), which keeps the folder fast.
 */
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

export { errorOf, exitOf, sleep, valueOf } from "../drive.ts"
import { sleep } from "../drive.ts"

/** Polls `condition` until it holds or `boundMs` passes. */
export const eventually = async (condition: () => boolean | Promise<boolean>, boundMs = 3_000): Promise<void> => {
  const deadline = performance.now() + boundMs
  while (!(await condition()) && performance.now() < deadline) await sleep(25)
}

/**
 * Clusters for NATS tests: a server per test file, a harness per test, and proof that every
 * rank process is gone afterwards, whether the test passed or threw.
 */
import { expect } from "vitest"
import type { HarnessOptions } from "../../../backends/harness.ts"
import { type NatsClusterHarness, type NatsHarnessExtras, startNatsHarness } from "../../../backends/nats/harness.ts"
import { waitUntilGone } from "../process/pids.ts"
import type { NatsServer } from "./nats-server.ts"

/** Liveness bounds for tests: fast enough to keep the folder short, wide enough for a busy CI box. */
export const testLiveness = { heartbeatEveryMs: 100, silenceMaxMs: 1_000, joinTimeoutMs: 12_000 } as const
/** How long a disposed cluster's pids get to disappear. */
const goneBoundMs = 5_000

export const withHarness = async <A>(
  server: NatsServer,
  options: Partial<HarnessOptions> & { readonly ranks: number },
  body: (harness: NatsClusterHarness) => Promise<A>,
  extras: NatsHarnessExtras = {},
  cluster = "test"
): Promise<A> => {
  const harness = await startNatsHarness({ url: server.url, token: server.token, cluster }, { seed: 1, ...options }, { ...testLiveness, ...extras })
  try {
    return await body(harness)
  } finally {
    await harness.dispose()
    expect(await waitUntilGone(harness.cluster.pids, goneBoundMs)).toEqual([])
  }
}

export { errorOf, exitOf, sleep, valueOf } from "../drive.ts"
import { sleep } from "../drive.ts"

/** Polls `condition` until it holds or `boundMs` passes; answers whether it held. */
export const eventually = async (condition: () => boolean | Promise<boolean>, boundMs = 5_000): Promise<boolean> => {
  const deadline = performance.now() + boundMs
  while (performance.now() < deadline) {
    if (await condition()) return true
    await sleep(25)
  }
  return condition()
}

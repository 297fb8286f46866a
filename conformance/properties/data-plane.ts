/**
 * AGG-7: the data plane fails a batch when any rank fails.
 *
 * Upstream returned the output rank's result as soon as it arrived, so a batch that failed on
 * another rank was reported as done (and that rank was out of step from then on). Method: a
 * random subset of the non-output ranks throws in `execute`; a valid request must fail with a
 * `CollectiveRpcError` naming exactly those ranks, and the next request (faults spent) succeeds.
 */
import * as fc from "fast-check"
import type { CollectiveRpcError } from "../../core/control.ts"
import { allRanks, describeError, fail, sameRanks, succeed, tagOf, withCluster } from "../cluster.ts"
import { injectAll, showRanks, validRequest, worldSizeMax } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

const dataPlaneCase = fc.integer({ min: 2, max: worldSizeMax }).chain((ranks) =>
  fc.integer({ min: 0, max: ranks - 1 }).chain((outputRank) =>
    fc.record({
      ranks: fc.constant(ranks),
      seed: fc.nat({ max: 0x7fff_ffff }),
      outputRank: fc.constant(outputRank),
      failingRanks: fc.subarray(allRanks(ranks).filter((rank) => rank !== outputRank), { minLength: 1 })
    })))

export const batchFailsWhenAnyRankFails: ConformanceProperty = {
  id: "AGG-7",
  statement: "a batch fails with CollectiveRpcError naming every failed rank, even when only non-output ranks fail",
  needs: { faultKinds: ["throw"] },
  run: (factory, options) =>
    fc.asyncProperty(dataPlaneCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed, outputRank: testCase.outputRank }, async (harness) => {
        const { failingRanks, outputRank } = testCase
        await injectAll(harness, failingRanks.map((rank) => ({ rank, method: "execute" as const, kind: "throw", count: 1 })))
        const error = await fail(harness, "a batch with failing non-output ranks", harness.engine.submit(validRequest("batch-with-failures")))
        expectThat(tagOf(error) === "CollectiveRpcError",
          `ranks ${showRanks(failingRanks)} failed execute (output rank ${outputRank}), so the request must fail with CollectiveRpcError, got ${describeError(error)}`)
        const failed = (error as CollectiveRpcError).failedRanks
        expectThat(sameRanks(failed, failingRanks), `the batch error names ranks ${showRanks(failed)}, the failed ranks are ${showRanks(failingRanks)}`)
        await succeed(harness, "the next request, faults spent", harness.engine.submit(validRequest("batch-after-failures")))
      }))
}

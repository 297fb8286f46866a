/**
 * CONS-2 and CONS-3: a partially applied control operation is undone, and an indefinite outcome
 * is treated as "may have applied".
 *
 * CONS-2. Upstream's addLora failed on one rank and left the adapter on the others, silently.
 * Method: adapters the ranks already hold, then an addLora that throws on one rank; the engine
 * must report `ControlFailed`, remove the adapter from every other rank (truth, read from the
 * ranks), keep the earlier adapters, and stay ready with beliefs equal to the truth.
 *
 * CONS-3. A call that timed out may still apply: a rank hangs in addLora past the deadline, then
 * the fault heals and the late call applies. Time passes with no reconciling read (no listLoras,
 * no checkHealth), so the engine learns nothing new: unless it is degraded, its beliefs must
 * already equal the truth. An engine that took the timeout as "not applied" believes the rank is
 * clean while it holds the adapter.
 */
import * as fc from "fast-check"
import type { ControlFailed } from "../../core/errors.ts"
import { describeTruth, differences, silentDivergence } from "../beliefs.ts"
import { describeError, fail, snapshot, succeed, tagOf, withCluster } from "../cluster.ts"
import { injectAll, worldSizeMax } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

const adapter = (id: number) => ({ id, name: `adapter-${id}` })

const partialAddCase = fc.integer({ min: 2, max: worldSizeMax }).chain((ranks) =>
  fc.record({
    ranks: fc.constant(ranks),
    seed: fc.nat({ max: 0x7fff_ffff }),
    failingRank: fc.integer({ min: 0, max: ranks - 1 }),
    heldBefore: fc.uniqueArray(fc.integer({ min: 1, max: 20 }), { maxLength: 3 }),
    adapterId: fc.integer({ min: 21, max: 40 })
  }))

export const partialAddCompensated: ConformanceProperty = {
  id: "CONS-2",
  statement: "after addLora fails on one rank, the engine reports ControlFailed, removes the adapter everywhere else and stays ready",
  needs: { faultKinds: ["throw"] },
  run: (factory, options) =>
    fc.asyncProperty(partialAddCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        for (const id of testCase.heldBefore) await succeed(harness, `addLora(${id}) before the fault`, harness.engine.addLora(adapter(id)))
        await injectAll(harness, [{ rank: testCase.failingRank, method: "addLora", kind: "throw", count: 1 }])
        const error = await fail(harness, `addLora(${testCase.adapterId})`, harness.engine.addLora(adapter(testCase.adapterId)))
        expectThat(tagOf(error) === "ControlFailed", `addLora failed on rank ${testCase.failingRank}, so it must fail with ControlFailed, got ${describeError(error)}`)
        const unrestored = (error as ControlFailed).compensation?.unrestoredRanks ?? []
        expectThat(unrestored.length === 0, `compensation must restore every rank, but it left ${unrestored.join(", ")}`)
        const now = await snapshot(harness)
        const holders = now.truth.filter((rank) => rank.loras.includes(testCase.adapterId)).map((rank) => rank.rank)
        expectThat(holders.length === 0, `after compensation ranks ${holders.join(", ")} still hold adapter ${testCase.adapterId}: ${describeTruth(now.truth)}`)
        const expected = JSON.stringify([...testCase.heldBefore].sort((a, b) => a - b))
        const lost = now.truth.filter((rank) => JSON.stringify(rank.loras) !== expected).map((rank) => rank.rank)
        expectThat(lost.length === 0, `ranks ${lost.join(", ")} no longer hold exactly the earlier adapters ${expected}: ${describeTruth(now.truth)}`)
        expectThat(now.state === "ready", `the engine must stay ready after a compensated failure, it is ${now.state}`)
        const divergence = differences(now.views, now.truth)
        expectThat(divergence.length === 0, `beliefs differ from the truth: ${divergence.join("; ")}`)
      }))
}

const lateApplyCase = fc.integer({ min: 1, max: worldSizeMax }).chain((ranks) =>
  fc.record({
    ranks: fc.constant(ranks),
    seed: fc.nat({ max: 0x7fff_ffff }),
    hungRank: fc.integer({ min: 0, max: ranks - 1 }),
    adapterId: fc.integer({ min: 1, max: 40 }),
    timeoutMs: fc.integer({ min: 20, max: 500 }),
    waitMs: fc.integer({ min: 1, max: 5_000 })
  }))

export const timeoutMayHaveApplied: ConformanceProperty = {
  id: "CONS-3",
  statement: "a timed-out addLora may have applied: after it applies late, the engine is degraded or its beliefs equal the truth",
  needs: { faultKinds: ["hang"] },
  run: (factory, options) =>
    fc.asyncProperty(lateApplyCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        await injectAll(harness, [{ rank: testCase.hungRank, method: "addLora", kind: "hang", count: 1 }])
        await fail(harness, `addLora(${testCase.adapterId}) with rank ${testCase.hungRank} hung`,
          harness.engine.addLora(adapter(testCase.adapterId), { timeoutMs: testCase.timeoutMs }))
        await succeed(harness, "heal", harness.faults.heal())
        // No read that reconciles: only time passes, so the engine's beliefs are what it inferred.
        await harness.advance(testCase.waitMs)
        const now = await snapshot(harness)
        if (now.state === "degraded") return
        const divergence = silentDivergence(now)
        expectThat(divergence.length === 0, `${divergence.join("; ")} (truth: ${describeTruth(now.truth)})`)
      }))
}

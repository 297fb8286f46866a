/**
 * The README's worked example: a user's own Worker checked by the conformance suites. The
 * correct worker passes every property that applies to it (those that configure the simulated
 * model are skipped with a reason); the planted bug (sleep acknowledged without sleeping) is
 * caught as silent divergence.
 */
import { describe, expect, test } from "vitest"
import { runConformance } from "../../conformance/index.ts"
import { patternBackend } from "../../examples/own-worker/check.ts"

describe("examples/own-worker", () => {
  test("the correct PatternWorker passes the suites; model-configuring properties are skipped with a reason", async () => {
    const report = await runConformance({ backend: patternBackend(false), numRuns: 10, seed: 1 })
    expect(report.totals.failed).toBe(0)
    const skipped = report.properties.filter((property) => property.verdict === "skipped")
    expect(skipped.map((property) => property.id).sort()).toEqual(["API-1", "API-2"])
    for (const property of skipped) expect(property.reason).toContain("model option")
  })

  test("the buggy PatternWorker, whose sleep changes nothing, is caught by CONS-1 with a replay line", async () => {
    const report = await runConformance({ backend: patternBackend(true), numRuns: 25, seed: 1, properties: ["CONS-1"] })
    const [cons1] = report.properties
    expect(cons1.verdict).toBe("failed")
    expect(cons1.replay).toContain("--property CONS-1")
  })
})

/**
 * Goal: the suites can fail. Every mutant of the catalogue (the real core with one decision point
 * flipped to a known-broken choice) is killed on the simulator by at least one property, and at
 * least one of the properties written for it is among its killers.
 * Method: `runMutants` with a fixed seed and a small budget of runs, stopping each mutant at its
 * first kill; then the full matrix for two mutants, to check that mode runs every property.
 */
import { describe, expect, test } from "vitest"
import { conformanceProperties, mutantCatalogue, runMutants } from "../../../conformance/index.ts"
import { simHarnessFactory } from "../../../simulator/harness.ts"

describe("runMutants", () => {
  test("every mutant is killed, and by one of its expected killers", async () => {
    const report = await runMutants({ backend: simHarnessFactory, numRuns: 25, seed: 20_240_601 })
    const survivors = report.mutants.filter((mutant) => !mutant.killed).map((mutant) => mutant.id)
    expect(survivors).toEqual([])
    const missed = report.mutants.filter((mutant) => !mutant.expectedKillerHit).map((mutant) => `${mutant.id} killed by ${mutant.killedBy.join(", ")}`)
    expect(missed).toEqual([])
    expect(report.totals).toEqual({ mutants: mutantCatalogue.length, killed: mutantCatalogue.length, survived: 0, expectedKillerMissed: 0 })
  })

  test("a killing property's replay line names the mutant", async () => {
    const report = await runMutants({ backend: simHarnessFactory, numRuns: 25, seed: 1, mutants: ["no-compensation"] })
    const failed = report.mutants[0].properties.find((property) => property.verdict === "failed")
    expect(failed?.replay).toMatch(/--mutant no-compensation$/)
  })

  test("the full matrix runs every property on each mutant", async () => {
    const report = await runMutants({ backend: simHarnessFactory, numRuns: 5, seed: 2, mutants: ["or-instead-of-and", "close-always-closed"], fullMatrix: true })
    for (const mutant of report.mutants) {
      expect(mutant.properties.map((property) => property.id).sort()).toEqual(conformanceProperties.map((property) => property.id).sort())
      expect(mutant.killed).toBe(true)
    }
  })
})

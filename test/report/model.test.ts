/**
 * Goal: the overall verdict fails for each kind of problem a reader must not miss, and names it.
 * Method: the hand-built sample (which has one of each problem), then the same report cleaned.
 */
import { describe, expect, test } from "vitest"
import { currentRuntime, reportVerdict } from "../../report/model.ts"
import { passingReport } from "./passing.ts"
import { sampleReport } from "./sample.ts"

describe("reportVerdict", () => {
  test("fails and names a failed property, a surviving mutant, a blind killer, a failed seed and a missing path", () => {
    const verdict = reportVerdict(sampleReport)
    expect(verdict.ok).toBe(false)
    expect(verdict.problems).toEqual([
      "sim: 1 conformance property failed",
      "sim: 1 mutant(s) survived",
      "sim: 1 mutant(s) missed by their expected killers",
      "sim: 1 of 4 simulated seed(s) failed",
      "sim: required path(s) not reached: compensation-failed-degraded"
    ])
  })

  test("passes when every property passed, every mutant was killed by an expected killer and every seed passed", () => {
    expect(reportVerdict(passingReport)).toEqual({ ok: true, problems: [] })
  })
})

describe("currentRuntime", () => {
  test("names the runtime the suite runs on, with a version", () => {
    const runtime = currentRuntime()
    const expected = process.env.RANKWISE_EXPECT_RUNTIME
    if (expected !== undefined) expect(runtime.name).toBe(expected)
    expect(["node", "bun", "deno"]).toContain(runtime.name)
    expect(runtime.version).toMatch(/^\d+\.\d+/)
  })
})

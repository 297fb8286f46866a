/**
 * Goal: reports render as readable tables: one row per property with runs, verdict, a truncated
 * counterexample and the whole replay line; one row per mutant with who killed it; totals below.
 * Method: hand-built reports (no backend), so the expected text is known exactly.
 */
import { describe, expect, test } from "vitest"
import { renderConformanceReport, renderMutantReport } from "../../conformance/index.ts"
import type { ConformanceReport } from "../../conformance/runner.ts"
import type { MutantReport } from "../../conformance/mutants/run.ts"
import { renderTable, truncate } from "../../conformance/report.ts"

const replay = "rankwise check --backend sim --property CONS-2 --seed 5 --path 0:0:1 --mutant no-compensation"

const conformance: ConformanceReport = {
  backend: "sim",
  seed: 5,
  numRuns: 25,
  policy: undefined,
  properties: [
    { id: "AGG-1", statement: "s", verdict: "passed", runs: 25, durationMs: 3 },
    { id: "CONS-2", statement: "s", verdict: "failed", runs: 2, reason: "ranks 1 still hold adapter 21", counterexample: `{"ranks":2,"seed":0,"failingRank":0,${"x".repeat(100)}}`, replay, durationMs: 4 },
    { id: "DET-1", statement: "s", verdict: "skipped", runs: 0, reason: "needs virtual time", durationMs: 0 }
  ],
  totals: { passed: 1, failed: 1, skipped: 1 },
  durationMs: 7
}

describe("renderConformanceReport", () => {
  test("draws one row per property, keeps the replay line whole and lists failure reasons", () => {
    const text = renderConformanceReport(conformance)
    const lines = text.split("\n")
    expect(lines[0]).toBe("conformance on sim, seed 5, 25 runs per property")
    expect(lines[1]).toMatch(/^property\s+runs\s+verdict\s+counterexample\s+replay$/)
    expect(lines.find((line) => line.startsWith("CONS-2"))).toContain(replay)
    expect(lines.find((line) => line.startsWith("CONS-2"))).toContain("…")
    expect(lines.find((line) => line.startsWith("DET-1"))).toContain("needs virtual time")
    expect(text).toContain("1 passed, 1 failed, 1 skipped in 7 ms")
    expect(text).toContain("CONS-2: ranks 1 still hold adapter 21")
  })
})

describe("renderMutantReport", () => {
  test("names the killers of each mutant and flags survivors and missed expectations", () => {
    const report: MutantReport = {
      backend: "sim",
      seed: 1,
      mutants: [
        { id: "no-compensation", description: "d", killed: true, killedBy: ["CONS-2"], expectedKillers: ["CONS-2"], expectedKillerHit: true, properties: [], durationMs: 4 },
        { id: "made-up", description: "d", killed: false, killedBy: [], expectedKillers: ["AGG-1"], expectedKillerHit: false, properties: [], durationMs: 9 }
      ],
      totals: { mutants: 2, killed: 1, survived: 1, expectedKillerMissed: 1 },
      durationMs: 13
    }
    const text = renderMutantReport(report)
    expect(text).toMatch(/no-compensation\s+killed\s+CONS-2\s+CONS-2/)
    expect(text).toMatch(/made-up\s+SURVIVED\s+-\s+AGG-1 \(missed\)/)
    expect(text).toContain("1 of 2 killed, 1 survived, 1 missed by their expected killers, in 13 ms")
  })
})

describe("table helpers", () => {
  test("truncate keeps short text, cuts long text to its width on one line", () => {
    expect(truncate("short", 10)).toBe("short")
    expect(truncate("a\nb", 10)).toBe("a b")
    expect(truncate("abcdefghijkl", 5)).toBe("abcd…")
  })

  test("renderTable pads every column but the last", () => {
    expect(renderTable(["a", "bb"], [["ccc", "d"]])).toBe("a    bb\n---  --\nccc  d")
  })
})

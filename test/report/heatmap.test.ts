/**
 * Goal: the coverage heat map draws exactly one coloured cell per coverage row of a sweep, in the
 * right row and column, with its counts in a tooltip; cells that never fired stay blank; colour
 * grows with log(fired). Method: the sample sweep, then generated sweeps (fast-check).
 */
import { test as propertyTest } from "@fast-check/vitest"
import * as fc from "fast-check"
import { describe, expect, test } from "vitest"
import { escapeHtml } from "../../report/escape.ts"
import { coverageHeatmap, heatOf, phaseColumns } from "../../report/heatmap.ts"
import type { CoverageRow, SweepReport } from "../../simulator/sweep.ts"
import { sampleSweep } from "./sample.ts"

const cellsOf = (html: string): ReadonlyArray<string> => [...html.matchAll(/data-coverage="([^"]*)"/g)].map((match) => match[1])

describe("coverageHeatmap", () => {
  test("has one coloured cell per coverage row, keyed point|method|phase, with fired and seeds in the tooltip", () => {
    const html = coverageHeatmap(sampleSweep)
    expect(cellsOf(html)).toEqual(sampleSweep.coverage.map((row) => `${row.point}|${row.method}|${row.phase}`).sort(byRowThenPhase))
    expect(html).toContain("title=\"net.reorder · execute · safety: fired 120 time(s), in 4 of 4 seed(s)\"")
    // Three point × method rows and two phases: six cells, of which two never fired.
    expect(html.match(/<td class="cold">/g)).toHaveLength(2)
    expect(html.split("<tbody>")[1].match(/<tr>/g)).toHaveLength(3)
  })

  test("says so when nothing fired, rather than drawing an empty table", () => {
    expect(coverageHeatmap({ ...sampleSweep, coverage: [] })).toContain("No fault point fired")
  })

  propertyTest.prop([fc.uniqueArray(coverageRow(), { selector: (row) => `${row.point}|${row.method}|${row.phase}`, minLength: 1, maxLength: 40 })])(
    "draws exactly one cell per coverage row for any sweep",
    (coverage) => {
      const sweep: SweepReport = { ...sampleSweep, coverage }
      const cells = cellsOf(coverageHeatmap(sweep))
      expect(cells).toHaveLength(coverage.length)
      expect(new Set(cells)).toEqual(new Set(coverage.map((row) => escapeHtml(`${row.point}|${row.method}|${row.phase}`))))
      expect(phaseColumns(coverage).slice(0, 2)).toEqual(["safety", "liveness"])
    }
  )
})

describe("heatOf", () => {
  test("grows with log(fired): one firing is warm, the most-fired cell is hottest, and halfway in log is halfway in heat", () => {
    expect(heatOf(1, 1)).toBe(1)
    expect(heatOf(1, 100)).toBeGreaterThan(0)
    expect(heatOf(100, 100)).toBe(1)
    expect(heatOf(10, 100)).toBeCloseTo((heatOf(1, 100) + heatOf(100, 100)) / 2, 10)
  })
})

function coverageRow(): fc.Arbitrary<CoverageRow> {
  return fc.record({
    point: fc.constantFrom("call.throw", "net.reorder", "wake.oom", "<b>odd</b>"),
    method: fc.constantFrom("addLora", "execute", "wakeUp"),
    phase: fc.constantFrom("safety", "liveness", "other"),
    fired: fc.integer({ min: 1, max: 10_000 }),
    seeds: fc.integer({ min: 1, max: 50 })
  })
}

/** The table's reading order: rows as the sweep sorts them, then phase columns safety, liveness. */
function byRowThenPhase(a: string, b: string): number {
  const [pointA, methodA, phaseA] = a.split("|")
  const [pointB, methodB, phaseB] = b.split("|")
  const order = ["safety", "liveness"]
  return pointA.localeCompare(pointB) || methodA.localeCompare(methodB) || order.indexOf(phaseA) - order.indexOf(phaseB)
}

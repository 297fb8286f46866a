/**
 * The sample report with every problem removed: the tests' passing report.
 */
import type { RankwiseReport } from "../../report/model.ts"
import { sampleConformance, sampleMutants, sampleReport, sampleSweep } from "./sample.ts"

export const passingReport: RankwiseReport = {
  ...sampleReport,
  backends: [{
    ...sampleReport.backends[0],
    conformance: { ...sampleConformance, properties: sampleConformance.properties.filter((property) => property.verdict === "passed"), totals: { passed: 1, failed: 0, skipped: 0 } },
    mutants: { ...sampleMutants, mutants: sampleMutants.mutants.filter((mutant) => mutant.killed), totals: { mutants: 1, killed: 1, survived: 0, expectedKillerMissed: 0 } },
    sweep: { ...sampleSweep, failures: [], passed: sampleSweep.seeds, missingPaths: [] }
  }]
}

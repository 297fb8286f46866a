/**
 * Runs the conformance suites against `PatternWorker` and prints the verdict.
 * Run: `npx tsx examples/own-worker/check.ts [--buggy]`.
 */
import { renderConformanceReport, runConformance } from "../../conformance/index.ts"
import { workerHarnessFactory } from "../../simulator/harness.ts"
import { makePatternWorker } from "./worker.ts"

export const patternBackend = (buggy: boolean) =>
  workerHarnessFactory({
    name: buggy ? "pattern-worker (buggy)" : "pattern-worker",
    makeWorker: ({ rank, outputRank }) => makePatternWorker({ rank, outputRank, buggy })
  })

const isEntryPoint = import.meta.url === `file://${process.argv[1]}` || (import.meta as { main?: boolean }).main === true
if (isEntryPoint) {
  const report = await runConformance({ backend: patternBackend(process.argv.includes("--buggy")), numRuns: 50, seed: 1 })
  console.log(renderConformanceReport(report))
  process.exitCode = report.totals.failed === 0 ? 0 : 1
}

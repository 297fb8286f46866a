/**
 * The report model: everything one Rankwise report shows, as plain JSON-serialisable data.
 *
 * A report gathers, per backend, what the conformance runner, the mutant runner and a simulator
 * sweep found, plus one run's timeline and images the caller copied into the report folder. The
 * writer (write.ts) saves this model whole as `report.json` and renders it as `index.html`, so the
 * page never shows anything the JSON does not hold. Nothing here reads a clock: `createdAt` and
 * the timings are passed in, so the same data gives the same page.
 */
import type { ConformanceReport } from "../conformance/runner.ts"
import type { MutantReport } from "../conformance/mutants/run.ts"
import type { ScenarioReport } from "../simulator/scenario/run.ts"
import type { SweepReport } from "../simulator/sweep.ts"
import type { TraceEvent } from "../simulator/trace.ts"

export const reportVersion = 1

export type RuntimeName = "node" | "bun" | "deno"

export interface RankwiseReport {
  readonly version: number
  /** ISO 8601, chosen by the caller. */
  readonly createdAt: string
  readonly runtime: { readonly name: RuntimeName; readonly version: string }
  /** Wall-clock milliseconds per stage, e.g. `{ conformance: 320, sweep: 210 }`. */
  readonly timings: Readonly<Record<string, number>>
  readonly backends: ReadonlyArray<BackendReport>
}

export interface BackendReport {
  readonly backend: string
  readonly conformance: ConformanceReport
  readonly mutants?: MutantReport | undefined
  readonly sweep?: SweepReport | undefined
  readonly timeline?: Timeline | undefined
  readonly images?: ReadonlyArray<ReportImage> | undefined
  /** Fixed real-fault scenarios run on this backend, with the expectations they met. */
  readonly scenarios?: ReadonlyArray<ScenarioRun> | undefined
}

/** One scripted scenario's run: what it does, and whether it met what it states. */
export interface ScenarioRun {
  readonly name: string
  readonly description: string
  readonly report: ScenarioReport
}

/** One run's trace, drawn as lanes; `traceFile` names its Chrome trace JSON inside the folder. */
export interface Timeline {
  readonly label: string
  readonly events: ReadonlyArray<TraceEvent>
  readonly worldSize: number
  readonly traceFile?: string | undefined
  /** What the event times count: a simulated run's virtual ms (the default) or real ranks' wall-clock ms. */
  readonly clock?: "virtual" | "wall" | undefined
}

/** An image the caller copied into the report folder; `file` is relative to it. */
export interface ReportImage {
  readonly caption: string
  readonly file: string
}

export interface ReportVerdict {
  readonly ok: boolean
  /** One sentence per problem, naming the backend; empty when `ok`. */
  readonly problems: ReadonlyArray<string>
}

/**
 * The overall verdict: failed when any property failed, any mutant survived, any seed failed or
 * a required rare path was never reached. A mutant killed only by unexpected properties is a
 * problem too: the property written for that bug has gone blind.
 */
export const reportVerdict = (report: RankwiseReport): ReportVerdict => {
  const problems = report.backends.flatMap(backendProblems)
  return { ok: problems.length === 0, problems }
}

const backendProblems = (entry: BackendReport): ReadonlyArray<string> => {
  const name = entry.backend
  const problems: Array<string> = []
  const failed = entry.conformance.totals.failed
  if (failed > 0) problems.push(`${name}: ${failed} conformance propert${failed === 1 ? "y" : "ies"} failed`)
  const mutants = entry.mutants?.totals
  if (mutants && mutants.survived > 0) problems.push(`${name}: ${mutants.survived} mutant(s) survived`)
  if (mutants && mutants.expectedKillerMissed > 0) problems.push(`${name}: ${mutants.expectedKillerMissed} mutant(s) missed by their expected killers`)
  const sweep = entry.sweep
  if (sweep && sweep.failures.length > 0) problems.push(`${name}: ${sweep.failures.length} of ${sweep.seeds} simulated seed(s) failed`)
  if (sweep && sweep.missingPaths.length > 0) problems.push(`${name}: required path(s) not reached: ${sweep.missingPaths.join(", ")}`)
  for (const run of entry.scenarios ?? []) {
    const started = run.report.steps[0]?.op !== "start" || run.report.steps[0].ok
    const mismatches = run.report.expectations?.mismatches.length ?? 0
    if (!started || mismatches > 0) problems.push(`${name}: scenario ${run.name} ${started ? `missed ${mismatches} expectation(s)` : "did not start"}`)
  }
  return problems
}

/** The runtime this process runs on, for `RankwiseReport.runtime`. */
export const currentRuntime = (): RankwiseReport["runtime"] => {
  const scope = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } }
  if (scope.Bun !== undefined) return { name: "bun", version: scope.Bun.version }
  if (scope.Deno !== undefined) return { name: "deno", version: scope.Deno.version.deno }
  return { name: "node", version: process.versions.node }
}

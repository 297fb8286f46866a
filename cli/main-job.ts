/**
 * The main job (`npm start`, `rankwise check` with no backend named): a verdict on Rankwise's
 * control plane under faults, on simulated and on real ranks, with evidence a person can open.
 *
 * 1. The simulator: every conformance property, every mutant (each must be killed), a swarm
 *    sweep with its fault-coverage table, and one traced run for the timeline.
 * 2. Real ranks (OS processes with ONNX Runtime models when that backend is available, else
 *    with the simulated model): the conformance properties at a small budget, and the fixed
 *    real-fault scenarios (SIGKILL mid-request, a failing addLora, SIGSTOP during close,
 *    sleep/wake under load), the first of them drawn as a timeline on the wall clock, plus
 *    generated images where the backend makes them.
 * 3. A report folder: report.json and a self-contained index.html.
 * The defaults are embedded so a fresh clone needs no arguments; the seed is fixed so two runs
 * give the same verdict (pass `--seed` to explore).
 */
import { mkdirSync } from "node:fs"
import { resolve } from "node:path"
import { runConformance, runMutants } from "../conformance/index.ts"
import { realFaultScenarios } from "../conformance/real-faults.ts"
import type { HarnessFactory } from "../backends/harness.ts"
import { currentRuntime, reportVerdict, type BackendReport, type RankwiseReport, type ScenarioRun, type Timeline } from "../report/model.ts"
import { reportVersion } from "../report/model.ts"
import { writeReport } from "../report/write.ts"
import { simHarnessFactory } from "../simulator/harness.ts"
import { runScenario } from "../simulator/scenario/run.ts"
import { scenarioTimeline } from "../simulator/scenario/timeline.ts"
import { runSimulation } from "../simulator/sim-run.ts"
import { runSweep } from "../simulator/sweep.ts"
import { backendNames, harnessFactoryFor } from "./backends.ts"
import type { Io } from "./main.ts"

export interface MainJobOptions {
  readonly seed: number
  readonly reportFolder: string
  /** Cases per property on the simulator. */
  readonly simRuns: number
  /** Cases per property on real ranks (each case starts processes). */
  readonly realRuns: number
  readonly sweepSeeds: number
  readonly json: boolean
}

export const mainJobDefaults: MainJobOptions = {
  seed: 20261204,
  reportFolder: "rankwise-report",
  simRuns: 100,
  realRuns: 3,
  sweepSeeds: 200,
  json: false
}

/** Runs the main job; resolves to the exit code (0: every check passed). */
export const runMainJob = async (io: Io, options: MainJobOptions, imagesFor?: ImageMaker): Promise<number> => {
  const timings: Record<string, number> = {}
  const timed = async <A>(stage: string, work: () => Promise<A> | A): Promise<A> => {
    const startedMs = performance.now()
    const result = await work()
    timings[stage] = Math.round(performance.now() - startedMs)
    if (!options.json) io.stdout(`  ${stage.padEnd(28)} ${String(timings[stage]).padStart(7)} ms\n`)
    return result
  }
  if (!options.json) io.stdout(`Rankwise main job: seed ${options.seed}\n`)
  const sim = await simulatorSection(options, timed)
  const real = await realSection(options, timed, imagesFor)
  const report: RankwiseReport = {
    version: reportVersion,
    createdAt: new Date().toISOString(),
    runtime: currentRuntime(),
    timings,
    backends: [sim, real]
  }
  const folder = resolve(options.reportFolder)
  mkdirSync(folder, { recursive: true })
  const written = writeReport(folder, report)
  const verdict = reportVerdict(report)
  io.stdout(options.json ? `${JSON.stringify({ verdict, report: written.json, html: written.html }, null, 2)}\n` : summary(report, verdict, written.html))
  return verdict.ok ? 0 : 1
}

type Timed = <A>(stage: string, work: () => Promise<A> | A) => Promise<A>

const simulatorSection = async (options: MainJobOptions, timed: Timed): Promise<BackendReport> => {
  const conformance = await timed("sim: conformance", () => runConformance({ backend: simHarnessFactory, numRuns: options.simRuns, seed: options.seed }))
  const mutants = await timed("sim: mutants", () => runMutants({ backend: simHarnessFactory, seed: options.seed }))
  const sweep = await timed("sim: swarm sweep", () => runSweep({
    baseSeed: options.seed, seeds: options.sweepSeeds, ranks: 4, durationMs: 5_000, faults: { _tag: "swarm" },
    requirePaths: ["compensation-succeeded", "compensation-failed-degraded", "reconciled-from-degraded", "stale-reply-dropped", "oom-on-wake", "rank-crashed"]
  }))
  const traced = await timed("sim: traced run", () => runSimulation({ seed: options.seed, ranks: 4, durationMs: 3_000, faults: { _tag: "swarm" }, keepTrace: true }))
  return {
    backend: "sim",
    conformance,
    mutants,
    sweep,
    timeline: { label: `seed ${traced.seed}: ${traced.configuration}`, events: traced.trace ?? [], worldSize: 4, traceFile: "sim-trace.json" }
  }
}

/** Makes images on a backend (before/after LoRA, before/after sleep), into the report folder. */
export type ImageMaker = (backend: HarnessFactory, folder: string) => Promise<BackendReport["images"]>

const realBackend = (): HarnessFactory => {
  const preferred = (backendNames as ReadonlyArray<string>).includes("onnx") ? "onnx" : "process"
  const factory = harnessFactoryFor(preferred)
  return "usage" in factory ? (harnessFactoryFor("process") as HarnessFactory) : factory
}

const realSection = async (options: MainJobOptions, timed: Timed, imagesFor: ImageMaker | undefined): Promise<BackendReport> => {
  const backend = realBackend()
  const conformance = await timed(`${backend.name}: conformance`, () => runConformance({ backend, numRuns: options.realRuns, seed: options.seed }))
  const scenarios: Array<ScenarioRun> = []
  let timeline: Timeline | undefined
  for (const scenario of realFaultScenarios) {
    const report = await timed(`${backend.name}: ${scenario.name}`, () => runScenario(scenario.scenario, backend))
    scenarios.push({ name: scenario.name, description: scenario.description, report })
    // The first scenario is the one to look at: a rank SIGKILLed mid-request, on the wall clock.
    timeline ??= {
      label: `${scenario.name} on ${backend.name} (wall clock): ${scenario.description}`,
      events: scenarioTimeline(scenario.scenario, report),
      worldSize: scenario.scenario.ranks,
      traceFile: `${backend.name}-trace.json`,
      clock: "wall"
    }
  }
  mkdirSync(resolve(options.reportFolder), { recursive: true })
  const images = imagesFor ? await timed(`${backend.name}: images`, () => imagesFor(backend, resolve(options.reportFolder))) : undefined
  return { backend: backend.name, conformance, scenarios, timeline, images }
}

const summary = (report: RankwiseReport, verdict: ReturnType<typeof reportVerdict>, html: string): string => {
  const lines = ["", "backend   properties (passed/failed/skipped)   mutants killed   seeds passed   real-fault scenarios"]
  for (const entry of report.backends) {
    const { passed, failed, skipped } = entry.conformance.totals
    const mutants = entry.mutants ? `${entry.mutants.totals.killed}/${entry.mutants.totals.mutants}` : "-"
    const seeds = entry.sweep ? `${entry.sweep.passed}/${entry.sweep.seeds}` : "-"
    const scenarios = entry.scenarios
      ? `${entry.scenarios.filter((run) => (run.report.expectations?.mismatches.length ?? 1) === 0).length}/${entry.scenarios.length}`
      : "-"
    lines.push(`${entry.backend.padEnd(9)} ${`${passed}/${failed}/${skipped}`.padEnd(36)} ${mutants.padEnd(16)} ${seeds.padEnd(14)} ${scenarios}`)
  }
  lines.push("", verdict.ok ? "VERDICT: passed" : `VERDICT: FAILED\n${verdict.problems.map((problem) => `  - ${problem}`).join("\n")}`)
  lines.push(`report: ${html}`, "")
  return lines.join("\n")
}

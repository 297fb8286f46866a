/**
 * Sweeps: many seeds, one verdict, and the coverage of the fault space they reached.
 *
 * A sweep runs seeds `baseSeed, baseSeed + 1, ...` and keeps every failure with its replay line.
 * It also adds up what the seeds reached: fault points by method and phase (which corners of
 * the fault space actually fired, not just which were enabled) and rare paths (compensation
 * failed into degraded, a stale reply dropped, a close that needed a retry). A sweep may require
 * named paths; a sweep that never reached one is reported as such, because a suite that never
 * exercises a path proves nothing about it.
 */
import { assert } from "../core/assert.ts"
import { runSimulation, type SimRunOptions, type SimRunResult } from "./sim-run.ts"

export interface SweepOptions extends Omit<SimRunOptions, "seed"> {
  readonly baseSeed: number
  readonly seeds: number
  /** Paths that must be reached at least once across the sweep. */
  readonly requirePaths?: ReadonlyArray<string> | undefined
  /** Called after each seed, for progress. */
  readonly onSeed?: ((result: SimRunResult, index: number) => void) | undefined
}

export interface CoverageRow {
  readonly point: string
  readonly method: string
  readonly phase: string
  /** How many times it fired across the sweep. */
  readonly fired: number
  /** How many seeds saw it fire. */
  readonly seeds: number
}

export interface SweepReport {
  readonly baseSeed: number
  readonly seeds: number
  readonly passed: number
  readonly failures: ReadonlyArray<Pick<SimRunResult, "seed" | "status" | "violation" | "configuration" | "replay">>
  readonly coverage: ReadonlyArray<CoverageRow>
  /** Rare paths: how many seeds reached each. */
  readonly paths: ReadonlyArray<{ readonly path: string; readonly seeds: number }>
  readonly missingPaths: ReadonlyArray<string>
  readonly operations: number
  readonly virtualMs: number
}

/** Runs the sweep. Synchronous per seed; each seed is an independent world. */
export const runSweep = (options: SweepOptions): SweepReport => {
  assert(Number.isInteger(options.seeds) && options.seeds >= 1, "a sweep runs at least one seed")
  const coverage = new Map<string, { fired: number; seeds: number }>()
  const paths = new Map<string, number>()
  const failures: Array<SweepReport["failures"][number]> = []
  let operations = 0
  let virtualMs = 0
  for (let index = 0; index < options.seeds; index++) {
    const result = runSimulation({ ...options, seed: (options.baseSeed + index) >>> 0 })
    operations += result.operations.invoked
    virtualMs += result.virtualMs
    for (const [key, fired] of result.coverage) {
      const row = coverage.get(key) ?? { fired: 0, seeds: 0 }
      coverage.set(key, { fired: row.fired + fired, seeds: row.seeds + 1 })
    }
    for (const path of result.paths.keys()) paths.set(path, (paths.get(path) ?? 0) + 1)
    if (result.status !== "ok") {
      failures.push({ seed: result.seed, status: result.status, violation: result.violation, configuration: result.configuration, replay: result.replay })
    }
    options.onSeed?.(result, index)
  }
  return {
    baseSeed: options.baseSeed,
    seeds: options.seeds,
    passed: options.seeds - failures.length,
    failures,
    coverage: [...coverage].map(([key, row]) => {
      const [point, method, phase] = key.split("|")
      return { point, method, phase, ...row }
    }).sort((a, b) => a.point.localeCompare(b.point) || a.method.localeCompare(b.method) || a.phase.localeCompare(b.phase)),
    paths: [...paths].map(([path, seeds]) => ({ path, seeds })).sort((a, b) => a.path.localeCompare(b.path)),
    missingPaths: (options.requirePaths ?? []).filter((path) => !paths.has(path)),
    operations,
    virtualMs
  }
}

/** The coverage table: one row per fault point and method, a column per phase. */
export const renderCoverage = (report: SweepReport): string => {
  const phases = [...new Set(report.coverage.map((row) => row.phase))].sort()
  const rows = new Map<string, Map<string, CoverageRow>>()
  for (const row of report.coverage) {
    const key = `${row.point}  ${row.method}`
    const byPhase = rows.get(key) ?? new Map<string, CoverageRow>()
    byPhase.set(row.phase, row)
    rows.set(key, byPhase)
  }
  const width = Math.max(24, ...[...rows.keys()].map((key) => key.length))
  const header = `${"fault point  method".padEnd(width)}  ${phases.map((phase) => `${phase} (fired/seeds)`.padStart(24)).join("")}`
  const lines = [...rows].map(([key, byPhase]) =>
    `${key.padEnd(width)}  ${phases.map((phase) => {
      const row = byPhase.get(phase)
      return (row ? `${row.fired}/${row.seeds}` : "-").padStart(24)
    }).join("")}`)
  const paths = report.paths.map((entry) => `  ${entry.path.padEnd(36)} ${entry.seeds} seed(s)`)
  const missing = report.missingPaths.map((path) => `  ${path.padEnd(36)} NOT REACHED`)
  return [header, ...lines, "", "rare paths reached:", ...paths, ...missing, ""].join("\n")
}

/**
 * The mutant runner: runs the conformance suites against each mutant and reports who killed it.
 *
 * A mutant is killed when at least one property fails on a backend started with the mutant's
 * policy. Method: per mutant, its expected killers run first, then every other property; the run
 * stops at the first failure (a kill is a kill) unless the full matrix is asked for. The time
 * limit is shared out across mutants as the run goes, like the conformance runner shares it
 * across properties. A mutant that survives, or is killed only by properties it did not expect,
 * is named in the report: either the suite is blind to that bug, or its killer list is stale.
 */
import type { HarnessFactory } from "../../backends/harness.ts"
import { conformanceProperties } from "../properties/index.ts"
import { ConformanceOptionsError, freshSeed, type PropertyReport, runConformance } from "../runner.ts"
import { type Mutant, mutantById, mutantCatalogue } from "./catalogue.ts"

export interface MutantOptions {
  readonly backend: HarnessFactory
  /** Generated cases per property (the conformance runner's default when absent). */
  readonly numRuns?: number | undefined
  /** Wall-clock milliseconds for the whole run, shared out across mutants. */
  readonly timeLimitMs?: number | undefined
  readonly seed?: number | undefined
  /** Ids of the mutants to run; the whole catalogue when absent. */
  readonly mutants?: ReadonlyArray<string> | undefined
  /** Run every property on every mutant instead of stopping at the first kill. */
  readonly fullMatrix?: boolean | undefined
  readonly onProgress?: ((event: { readonly _tag: "MutantFinished"; readonly result: MutantResult }) => void) | undefined
}

export interface MutantResult {
  readonly id: string
  readonly description: string
  readonly killed: boolean
  /** Properties that failed on this mutant, in the order they ran. */
  readonly killedBy: ReadonlyArray<string>
  readonly expectedKillers: ReadonlyArray<string>
  /** True when at least one expected killer is among `killedBy`. */
  readonly expectedKillerHit: boolean
  /** The report of every property that ran. */
  readonly properties: ReadonlyArray<PropertyReport>
  readonly durationMs: number
}

export interface MutantReport {
  readonly backend: string
  readonly seed: number
  readonly mutants: ReadonlyArray<MutantResult>
  readonly totals: { readonly mutants: number; readonly killed: number; readonly survived: number; readonly expectedKillerMissed: number }
  readonly durationMs: number
}

/** Runs the suites against each mutant of the catalogue (or the chosen ones). */
export const runMutants = async (options: MutantOptions): Promise<MutantReport> => {
  const mutants = selectMutants(options.mutants)
  // One seed for every mutant, so the whole matrix replays from the report.
  const seed = options.seed ?? freshSeed()
  const startedMs = Date.now()
  const results: Array<MutantResult> = []
  for (const [index, mutant] of mutants.entries()) {
    const timeLimitMs = options.timeLimitMs === undefined
      ? undefined
      : Math.max(1, Math.floor((options.timeLimitMs - (Date.now() - startedMs)) / (mutants.length - index)))
    const result = await runMutant(mutant, { ...options, seed }, timeLimitMs)
    results.push(result)
    options.onProgress?.({ _tag: "MutantFinished", result })
  }
  const killed = results.filter((result) => result.killed).length
  return {
    backend: options.backend.name,
    seed,
    mutants: results,
    totals: {
      mutants: results.length,
      killed,
      survived: results.length - killed,
      expectedKillerMissed: results.filter((result) => !result.expectedKillerHit).length
    },
    durationMs: Date.now() - startedMs
  }
}

const selectMutants = (ids: ReadonlyArray<string> | undefined): ReadonlyArray<Mutant> =>
  ids === undefined
    ? mutantCatalogue
    : ids.map((id) => {
      const mutant = mutantById(id)
      if (mutant === undefined) throw new ConformanceOptionsError(`unknown mutant ${id}; known: ${mutantCatalogue.map((m) => m.id).join(", ")}`)
      return mutant
    })

/** Expected killers first, so an early stop usually costs one property. */
const propertyOrder = (mutant: Mutant): ReadonlyArray<string> => {
  const rest = conformanceProperties.map((property) => property.id).filter((id) => !mutant.expectedKillers.includes(id))
  return [...mutant.expectedKillers, ...rest]
}

const runMutant = async (mutant: Mutant, options: MutantOptions, timeLimitMs: number | undefined): Promise<MutantResult> => {
  const startedMs = Date.now()
  const report = await runConformance({
    backend: options.backend,
    properties: propertyOrder(mutant),
    numRuns: options.numRuns,
    timeLimitMs,
    seed: options.seed,
    policy: mutant.policy,
    stopAtFirstFailure: options.fullMatrix !== true,
    replayFlags: ["--mutant", mutant.id]
  })
  const killedBy = report.properties.filter((property) => property.verdict === "failed").map((property) => property.id)
  return {
    id: mutant.id,
    description: mutant.description,
    killed: killedBy.length > 0,
    killedBy,
    expectedKillers: mutant.expectedKillers,
    expectedKillerHit: killedBy.some((id) => mutant.expectedKillers.includes(id)),
    properties: report.properties,
    durationMs: Date.now() - startedMs
  }
}

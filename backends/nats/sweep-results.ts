/**
 * What crosses the wire in a sweep farm: a work item (a range of seeds to simulate) and a seed's
 * result; and the merge of seed results into one `SweepReport` (simulator/sweep.ts).
 *
 * Results are keyed by seed: a range that is redelivered (its worker died) publishes some seeds
 * twice, and the merge takes each seed once, so at-least-once delivery gives an exact report.
 * The merge adds coverage up the way `runSweep` does within one process: per fault point, how
 * often it fired and in how many seeds.
 */
import { Result, Schema, SchemaIssue } from "effect"
import type { SimRunResult } from "../../simulator/sim-run.ts"
import type { FaultSelection, SwarmBudget } from "../../simulator/swarm.ts"
import { swarmFaultKinds } from "../../simulator/swarm.ts"
import type { CoverageRow, SweepReport } from "../../simulator/sweep.ts"

/** What every seed of a sweep runs with; the seed is all that differs. */
export interface SweepRun {
  readonly ranks: number
  readonly durationMs: number
  readonly faults: FaultSelection
  readonly budget?: SwarmBudget | undefined
  readonly opsPerSecond?: number | undefined
}

export interface WorkItem {
  readonly sweepId: string
  readonly firstSeed: number
  readonly count: number
  readonly run: SweepRun
}

export interface SeedResult {
  readonly sweepId: string
  readonly seed: number
  readonly status: SimRunResult["status"]
  readonly violation: { readonly invariant: string; readonly message: string; readonly atMs: number } | null
  readonly configuration: string
  readonly replay: string
  /** Fault points that fired, as `point|method|phase` with how often. */
  readonly coverage: ReadonlyArray<readonly [string, number]>
  readonly paths: ReadonlyArray<string>
  readonly operations: number
  readonly virtualMs: number
  /** Which worker ran it (`host-pid`), for progress and for tests. */
  readonly worker: string
}

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const SweepId = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/))

const FaultSelectionSchema = Schema.Union([
  Schema.Struct({ _tag: Schema.Literal("swarm") }),
  Schema.Struct({ _tag: Schema.Literal("none") }),
  Schema.Struct({ _tag: Schema.Literal("kinds"), kinds: Schema.Array(Schema.Literals(swarmFaultKinds)) })
])

const WorkItemSchema = Schema.Struct({
  sweepId: SweepId,
  firstSeed: NonNegativeInt,
  count: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  run: Schema.Struct({
    ranks: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
    durationMs: NonNegativeInt,
    faults: FaultSelectionSchema,
    budget: Schema.optionalKey(Schema.Struct({ faultyRanksMax: NonNegativeInt, crashes: Schema.Boolean })),
    opsPerSecond: Schema.optionalKey(Schema.Finite)
  })
})

const SeedResultSchema = Schema.Struct({
  sweepId: SweepId,
  seed: NonNegativeInt,
  status: Schema.Literals(["ok", "safety", "liveness"]),
  violation: Schema.NullOr(Schema.Struct({ invariant: Schema.String, message: Schema.String, atMs: Schema.Finite })),
  configuration: Schema.String,
  replay: Schema.String,
  coverage: Schema.Array(Schema.Tuple([Schema.String, NonNegativeInt])),
  paths: Schema.Array(Schema.String),
  operations: NonNegativeInt,
  virtualMs: Schema.Finite,
  worker: Schema.String
})

const formatIssue = SchemaIssue.makeFormatterDefault()
const decoder = new TextDecoder()

const decodeJson = <S extends Schema.ConstraintDecoder<unknown>>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (bytes: Uint8Array): Result.Result<S["Type"], string> => {
    let value: unknown
    try {
      value = JSON.parse(decoder.decode(bytes))
    } catch (error) {
      return Result.fail(`not JSON: ${(error as Error).message}`)
    }
    return Result.mapError(decode(value), (error) => formatIssue(error.issue))
  }
}

export const decodeWorkItem = decodeJson(WorkItemSchema) as (bytes: Uint8Array) => Result.Result<WorkItem, string>
export const decodeSeedResult = decodeJson(SeedResultSchema) as (bytes: Uint8Array) => Result.Result<SeedResult, string>

/** A simulation's result as it travels. */
export const seedResultOf = (sweepId: string, worker: string, result: SimRunResult): SeedResult => ({
  sweepId,
  seed: result.seed,
  status: result.status,
  violation: result.violation ? { invariant: result.violation.invariant, message: result.violation.message, atMs: result.violation.atMs } : null,
  configuration: result.configuration,
  replay: result.replay,
  coverage: [...result.coverage],
  paths: [...result.paths.keys()],
  operations: result.operations.invoked,
  virtualMs: result.virtualMs,
  worker
})

/** One report over the seeds that arrived, each counted once; missing seeds are not passed. */
export const mergeSeedResults = (baseSeed: number, seeds: number, results: ReadonlyMap<number, SeedResult>): SweepReport => {
  const coverage = new Map<string, { fired: number; seeds: number }>()
  const paths = new Map<string, number>()
  const failures: Array<SweepReport["failures"][number]> = []
  let operations = 0
  let virtualMs = 0
  for (const result of [...results.values()].sort((a, b) => a.seed - b.seed)) {
    operations += result.operations
    virtualMs += result.virtualMs
    for (const [key, fired] of result.coverage) {
      const row = coverage.get(key) ?? { fired: 0, seeds: 0 }
      coverage.set(key, { fired: row.fired + fired, seeds: row.seeds + 1 })
    }
    for (const path of result.paths) paths.set(path, (paths.get(path) ?? 0) + 1)
    if (result.status !== "ok") {
      const violation = result.violation === null ? undefined : { ...result.violation, operation: undefined }
      failures.push({ seed: result.seed, status: result.status, violation, configuration: result.configuration, replay: result.replay })
    }
  }
  return {
    baseSeed,
    seeds,
    passed: results.size - failures.length,
    failures,
    coverage: [...coverage].map(([key, row]): CoverageRow => {
      const [point, method, phase] = key.split("|")
      return { point, method, phase, ...row }
    }).sort((a, b) => a.point.localeCompare(b.point) || a.method.localeCompare(b.method) || a.phase.localeCompare(b.phase)),
    paths: [...paths].map(([path, count]) => ({ path, seeds: count })).sort((a, b) => a.path.localeCompare(b.path)),
    missingPaths: [],
    operations,
    virtualMs
  }
}

/** The seeds of a sweep, in order, wrapped at 2^32 as `runSweep` wraps them. */
export const sweepSeeds = (baseSeed: number, seeds: number): ReadonlyArray<number> =>
  Array.from({ length: seeds }, (_, index) => (baseSeed + index) >>> 0)

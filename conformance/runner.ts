/**
 * The conformance runner: checks properties against a backend with fast-check and reports a
 * verdict per property.
 *
 * Method: one `fc.check` per property, with the same seed for every property so that a report's
 * replay line (`--seed S --path P`) reruns exactly the failing case; the overall time limit is
 * shared out as the run goes (a property gets an even share of what is left, so time a fast one
 * saved goes to the next). A property whose needs the backend cannot meet is `skipped` with the
 * reason. A property interrupted by the time limit before any failure is `passed` with its run
 * count and a reason saying so, never a silent success. Replaying one property with
 * `{ seed, path }` reruns the shrunk counterexample fast-check reported.
 */
import * as fc from "fast-check"
import type { HarnessFactory } from "../backends/harness.ts"
import type { CorePolicy } from "../core/policy.ts"
import { conformanceProperties, propertyById } from "./properties/index.ts"
import { type ConformanceProperty, unmetNeeds } from "./property.ts"

export interface ConformanceOptions {
  readonly backend: HarnessFactory
  /** Ids of the properties to check, in this order; all of them when absent. */
  readonly properties?: ReadonlyArray<string> | undefined
  /** Generated cases per property (default 25). */
  readonly numRuns?: number | undefined
  /** Wall-clock milliseconds for the whole run, shared out across properties; unbounded when absent. */
  readonly timeLimitMs?: number | undefined
  /** fast-check seed for every property; a fresh one when absent (the report names it). */
  readonly seed?: number | undefined
  /** Replays one counterexample: needs `seed` and exactly one property. */
  readonly path?: string | undefined
  /** With `path`, for a model-based property: the commands' replay path from its report. */
  readonly commandsPath?: string | undefined
  /** Core decision points to override in every cluster (mutants). */
  readonly policy?: Partial<CorePolicy> | undefined
  /** Ends the run at the first failed property (the mutant runner's early stop). */
  readonly stopAtFirstFailure?: boolean | undefined
  /** Extra flags for replay lines, such as `--mutant no-compensation`; by default the policy as JSON. */
  readonly replayFlags?: ReadonlyArray<string> | undefined
  readonly onProgress?: ((event: ConformanceEvent) => void) | undefined
}

export type Verdict = "passed" | "failed" | "skipped"

export interface PropertyReport {
  readonly id: string
  readonly statement: string
  readonly verdict: Verdict
  /** Cases checked (up to and including the first failure). */
  readonly runs: number
  /** Why it failed, was skipped, or passed with fewer runs than asked. */
  readonly reason?: string | undefined
  /** The shrunk failing case, as readable text. */
  readonly counterexample?: string | undefined
  /** One line that reruns the failing case. */
  readonly replay?: string | undefined
  readonly seed?: number | undefined
  readonly path?: string | undefined
  /** For a model-based property: which commands ran, needed with `path` to replay. */
  readonly commandsPath?: string | undefined
  readonly durationMs: number
}

export interface ConformanceReport {
  readonly backend: string
  readonly seed: number
  readonly numRuns: number
  readonly policy?: Partial<CorePolicy> | undefined
  readonly properties: ReadonlyArray<PropertyReport>
  readonly totals: { readonly passed: number; readonly failed: number; readonly skipped: number }
  readonly durationMs: number
}

export type ConformanceEvent =
  | { readonly _tag: "PropertyStarted"; readonly id: string }
  | { readonly _tag: "PropertyFinished"; readonly report: PropertyReport }

/** The options name a property that does not exist, or a replay that cannot be done. */
export class ConformanceOptionsError extends Error {
  override readonly name = "ConformanceOptionsError"
}

export const numRunsDefault = 25

/** Checks the chosen properties against `options.backend` and reports each verdict. */
export const runConformance = async (options: ConformanceOptions): Promise<ConformanceReport> => {
  const properties = selectProperties(options)
  const seed = options.seed ?? freshSeed()
  const numRuns = options.numRuns ?? numRunsDefault
  const startedMs = Date.now()
  const reports: Array<PropertyReport> = []
  for (const [index, property] of properties.entries()) {
    options.onProgress?.({ _tag: "PropertyStarted", id: property.id })
    const timeLimitMs = shareOfTimeLeft(options.timeLimitMs, startedMs, properties.length - index)
    const report = await checkProperty(property, options, { seed, numRuns, timeLimitMs })
    reports.push(report)
    options.onProgress?.({ _tag: "PropertyFinished", report })
    if (options.stopAtFirstFailure && report.verdict === "failed") break
  }
  return {
    backend: options.backend.name,
    seed,
    numRuns,
    policy: options.policy,
    properties: reports,
    totals: {
      passed: reports.filter((report) => report.verdict === "passed").length,
      failed: reports.filter((report) => report.verdict === "failed").length,
      skipped: reports.filter((report) => report.verdict === "skipped").length
    },
    durationMs: Date.now() - startedMs
  }
}

const selectProperties = (options: ConformanceOptions): ReadonlyArray<ConformanceProperty> => {
  const ids = options.properties ?? conformanceProperties.map((property) => property.id)
  const properties = ids.map((id) => {
    const property = propertyById(id)
    if (property === undefined) throw new ConformanceOptionsError(`unknown property ${id}; known: ${conformanceProperties.map((p) => p.id).join(", ")}`)
    return property
  })
  if (options.path !== undefined && (options.seed === undefined || properties.length !== 1)) {
    throw new ConformanceOptionsError("a replay (path) needs its seed and exactly one property")
  }
  return properties
}

/** A fresh seed: each run without one explores new cases, and the report names it for replay. */
export const freshSeed = (): number => Math.floor(Math.random() * 0x7fff_ffff)

/** An even share of the time left among the properties left; undefined when the run is unbounded. */
const shareOfTimeLeft = (timeLimitMs: number | undefined, startedMs: number, propertiesLeft: number): number | undefined =>
  timeLimitMs === undefined ? undefined : Math.max(1, Math.floor((timeLimitMs - (Date.now() - startedMs)) / propertiesLeft))

interface CheckSettings { readonly seed: number; readonly numRuns: number; readonly timeLimitMs: number | undefined }

const checkProperty = async (property: ConformanceProperty, options: ConformanceOptions, settings: CheckSettings): Promise<PropertyReport> => {
  const base = { id: property.id, statement: property.statement }
  const unmet = unmetNeeds(property, options.backend)
  if (unmet !== undefined) return { ...base, verdict: "skipped", runs: 0, reason: unmet, durationMs: 0 }
  const startedMs = Date.now()
  const details = await fc.check(property.run(options.backend, { policy: options.policy, commandsReplayPath: options.commandsPath }), {
    seed: settings.seed,
    numRuns: settings.numRuns,
    path: options.path,
    plugins: settings.timeLimitMs === undefined ? [] : [fc.interruptAfterTimeLimit(settings.timeLimitMs)]
  })
  const durationMs = Date.now() - startedMs
  if (!details.failed) {
    const reason = details.interrupted ? `time limit reached after ${details.numRuns} of ${settings.numRuns} runs` : undefined
    return { ...base, verdict: "passed", runs: details.numRuns, reason, durationMs }
  }
  if (details.counterexample === null || details.counterexamplePath === null) {
    const reason = details.interrupted ? "interrupted by the time limit" : `gave up: ${details.numSkips} generated cases were skipped`
    return { ...base, verdict: "failed", runs: details.numRuns, reason, durationMs }
  }
  const path = details.counterexamplePath
  const counterexample = describeCounterexample(details.counterexample)
  const commandsPath = commandsReplayPathOf(counterexample)
  return {
    ...base,
    verdict: "failed",
    runs: details.numRuns,
    reason: describeFailure(details.errorInstance),
    counterexample,
    replay: replayLine(options, property.id, { seed: details.seed, path, commandsPath }),
    seed: details.seed,
    path,
    commandsPath,
    durationMs
  }
}

/** fast-check prints a schedule's replay path with it, as `/*replayPath="..."*\/`. */
const commandsReplayPathOf = (counterexample: string): string | undefined =>
  /replayPath="([^"]*)"/.exec(counterexample)?.[1]

const describeFailure = (error: unknown): string =>
  error instanceof Error ? (error.name === "PropertyViolation" ? error.message : `${error.name}: ${error.message}`) : String(error)

/** The failing case; a property takes one generated argument, shown without the tuple around it. */
const describeCounterexample = (counterexample: ReadonlyArray<unknown>): string =>
  fc.stringify(counterexample.length === 1 ? counterexample[0] : counterexample)

interface Replay { readonly seed: number; readonly path: string; readonly commandsPath: string | undefined }

const replayLine = (options: ConformanceOptions, id: string, replay: Replay): string => {
  const policy = options.policy !== undefined && Object.keys(options.policy).length > 0 ? ["--policy", `'${JSON.stringify(options.policy)}'`] : []
  const commands = replay.commandsPath === undefined ? [] : ["--commands-path", replay.commandsPath]
  return [
    "rankwise check --backend", options.backend.name, "--property", id, "--seed", String(replay.seed), "--path", replay.path,
    ...commands, ...(options.replayFlags ?? policy)
  ].join(" ")
}

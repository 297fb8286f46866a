/**
 * Runs a scenario on any backend through the cluster harness contract.
 *
 * The engine and executor are the unmodified `core/` code. Each step is driven to its end within
 * a time budget (virtual milliseconds on the simulator, where they cost nothing), so a step that
 * would hang is reported as `StepBudgetExceeded` (or `Deadlock`, which only a virtual-time
 * backend can prove) instead of hanging the runner. `final.ranks` is ground truth read from the
 * ranks, not what the engine believes: comparing the two shows whether the engine hid a
 * divergence.
 */
import { Cause, Effect, Exit } from "effect"
import type { RequestHandle } from "../../core/engine.ts"
import type { ClusterHarness, DriveResult, HarnessFactory } from "../../backends/harness.ts"
import type { Scenario, Step } from "./format.ts"

export interface StepReport {
  readonly op: string
  readonly ok: boolean
  readonly value?: unknown
  readonly error?: { readonly _tag: string; readonly message: string }
  readonly outcomes?: ReadonlyArray<{ readonly rank: number; readonly tag: string }>
  /** When the step started, on the harness's clock (virtual time, or wall time on real ranks). */
  readonly startedMs: number
  /** When the step ended, on the same clock. */
  readonly atMs: number
}

/** One expectation a run did not meet. */
export interface ExpectationMismatch {
  /** `steps.3.error`, `final.ranks.2.loras`, ... */
  readonly at: string
  readonly expected: unknown
  readonly actual: unknown
}

export interface ScenarioReport {
  readonly seed: number
  readonly steps: ReadonlyArray<StepReport>
  /** Present when the scenario states expectations. */
  readonly expectations?: { readonly checked: number; readonly mismatches: ReadonlyArray<ExpectationMismatch> } | undefined
  readonly final: {
    readonly engineState: string
    readonly ranks: ReadonlyArray<{ readonly rank: number; readonly alive: boolean; readonly asleep: boolean; readonly loras: ReadonlyArray<number> }>
  }
}

/** Milliseconds a step may take when it names no timeout. */
const stepBudgetMsDefault = 600_000
const closeTimeoutMsDefault = 2_000

interface Running {
  readonly harness: ClusterHarness
  readonly handles: Map<string, RequestHandle>
}

/** Runs `scenario` on `backend`; scenario and engine failures are step reports, never throws. */
export const runScenario = async (scenario: Scenario, backend: HarnessFactory): Promise<ScenarioReport> => {
  const seed = scenario.seed ?? 0
  let harness: ClusterHarness
  try {
    harness = await backend.start({
      ranks: scenario.ranks, seed, outputRank: scenario.outputRank, model: scenario.model, engine: scenario.engine,
      faults: scenario.faults
    })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { seed, steps: [{ op: "start", ok: false, error: { _tag: "StartFailed", message }, startedMs: 0, atMs: 0 }], final: { engineState: "failed", ranks: [] } }
  }
  const running: Running = { harness, handles: new Map() }
  try {
    const steps: Array<StepReport> = []
    for (const step of scenario.steps) steps.push(await runStep(running, step))
    const final = await readFinal(harness)
    return { seed, steps, final, ...checkExpectations(scenario, steps, final) }
  } finally {
    await harness.dispose()
  }
}

/** One step: build its effect, drive it to its end within its budget, report. */
const runStep = async (running: Running, step: Step): Promise<StepReport> => {
  const { harness } = running
  const startedMs = harness.nowMs()
  if (step.op === "advance") {
    await harness.advance(step.ms)
    return { op: step.op, ok: true, startedMs, atMs: harness.nowMs() }
  }
  const budgetMs = (step.timeoutMs ?? stepBudgetMsDefault) * 2 + 1_000
  const result: DriveResult<unknown, unknown> = await harness.run(stepEffect(running, step), budgetMs)
  const atMs = harness.nowMs()
  if (result._tag === "Stuck") return { op: step.op, ok: false, error: { _tag: "Deadlock", message: "the step waits on something that can never happen" }, startedMs, atMs }
  if (result._tag === "BudgetExceeded") {
    return { op: step.op, ok: false, error: { _tag: "StepBudgetExceeded", message: `no answer within ${budgetMs} ms` }, startedMs, atMs }
  }
  if (Exit.isSuccess(result.exit)) return { op: step.op, ok: true, ...successReport(step, result.exit.value, harness.worldSize), startedMs, atMs }
  const error = failureOf(result.exit.cause)
  return { op: step.op, ok: false, error: describeError(error), ...outcomesOf(error), startedMs, atMs }
}

const stepEffect = (running: Running, step: Exclude<Step, { op: "advance" }>): Effect.Effect<unknown, unknown> => {
  const { engine, faults: handle } = running.harness
  const { handles } = running
  const options = { timeoutMs: step.timeoutMs }
  switch (step.op) {
    case "addLora": return engine.addLora(step.adapter, options)
    case "removeLora": return engine.removeLora(step.adapterId, options)
    case "pinLora": return engine.pinLora(step.adapterId, options)
    case "listLoras": return engine.listLoras(options)
    case "sleep": return engine.sleep(step.level, options)
    case "wakeUp": return engine.wakeUp(step.tags, options)
    case "checkHealth": return engine.checkHealth(options)
    case "close": return engine.close({ timeoutMs: step.timeoutMs ?? closeTimeoutMsDefault })
    case "submit":
      if (step.wait === false) {
        return Effect.map(engine.enqueue(step.request), (requestHandle) => {
          handles.set(requestHandle.requestId, requestHandle)
          return { requestId: requestHandle.requestId, admitted: true }
        })
      }
      return engine.submit(step.request)
    case "await": {
      const requestHandle = handles.get(step.requestId)
      return requestHandle ? requestHandle.result : engine.await(step.requestId)
    }
    case "abort": return engine.abort(step.requestId)
    case "heal": return handle.heal()
    case "inject": return handle.inject(step.fault)
    case "kill": return handle.kill(step.rank)
    case "stop": return handle.stop ? handle.stop(step.rank) : unsupported(running.harness, "stop")
    case "resume": return handle.resume ? handle.resume(step.rank) : unsupported(running.harness, "resume")
  }
}

const unsupported = (harness: ClusterHarness, op: string) =>
  Effect.fail({ _tag: "UnsupportedByBackend", message: `${op} needs real rank processes; backend '${harness.backend}' has none` })

/** Control operations that succeed did so on every rank: their outcomes are all Ok. */
const allRankOps: ReadonlyArray<string> = ["addLora", "removeLora", "pinLora", "listLoras", "sleep", "wakeUp", "checkHealth"]

const successReport = (step: Step, value: unknown, worldSize: number): Pick<StepReport, "value" | "outcomes"> => {
  if (!allRankOps.includes(step.op)) return { value }
  // A removal also succeeds where the adapter was already absent: those ranks answered LoraNotFound.
  const absent: ReadonlyArray<number> = step.op === "removeLora" ? (value as { alreadyAbsentRanks: ReadonlyArray<number> }).alreadyAbsentRanks : []
  return { value, outcomes: Array.from({ length: worldSize }, (_, rank) => ({ rank, tag: absent.includes(rank) ? "Failed" : "Ok" })) }
}

const failureOf = (cause: Cause.Cause<unknown>): unknown => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure) return failure.error
  const defect = cause.reasons.find(Cause.isDieReason)
  if (defect) return { _tag: "Defect", message: String((defect.defect as Error)?.stack ?? defect.defect) }
  return { _tag: "Interrupted", message: "the step was interrupted" }
}

const describeError = (error: unknown): { _tag: string; message: string } => {
  const tagged = error as { _tag?: unknown; message?: unknown }
  return { _tag: String(tagged?._tag ?? "Unknown"), message: String(tagged?.message ?? error) }
}


const outcomesOf = (error: unknown): Pick<StepReport, "outcomes"> => {
  const result = (error as { result?: { outcomes?: ReadonlyArray<{ rank: number; _tag: string }> } })?.result
  return result?.outcomes ? { outcomes: result.outcomes.map((outcome) => ({ rank: outcome.rank, tag: outcome._tag })) } : {}
}

const readFinal = async (harness: ClusterHarness): Promise<ScenarioReport["final"]> => {
  const read = await harness.run(Effect.all([harness.engine.state, harness.faults.truth()]), 60_000)
  if (read._tag !== "Done" || Exit.isFailure(read.exit)) return { engineState: "unknown", ranks: [] }
  const [engineState, truth] = read.exit.value
  return { engineState, ranks: truth.map(({ rank, alive, asleep, loras }) => ({ rank, alive, asleep, loras })) }
}

/** Compares a run with the expectations its scenario states; nothing when it states none. */
const checkExpectations = (scenario: Scenario, steps: ReadonlyArray<StepReport>, final: ScenarioReport["final"]) => {
  const mismatches: Array<ExpectationMismatch> = []
  let checked = 0
  const compare = (at: string, expected: unknown, actual: unknown) => {
    checked++
    if (JSON.stringify(expected) !== JSON.stringify(actual)) mismatches.push({ at, expected, actual })
  }
  scenario.steps.forEach((step, index) => {
    const expectation = step.expect
    if (expectation === undefined) return
    const report = steps[index]
    if (expectation.ok !== undefined) compare(`steps.${index}.ok`, expectation.ok, report.ok)
    if (expectation.error !== undefined) compare(`steps.${index}.error`, expectation.error, report.error?._tag)
    if (expectation.outcomes !== undefined) compare(`steps.${index}.outcomes`, expectation.outcomes, report.outcomes?.map((outcome) => outcome.tag))
  })
  const expectFinal = scenario.expectFinal
  if (expectFinal?.engineState !== undefined) compare("final.engineState", expectFinal.engineState, final.engineState)
  for (const expected of expectFinal?.ranks ?? []) {
    const actual = final.ranks.find((rank) => rank.rank === expected.rank)
    for (const key of ["alive", "asleep", "loras"] as const) {
      if (expected[key] !== undefined) compare(`final.ranks.${expected.rank}.${key}`, expected[key], actual?.[key])
    }
  }
  return checked === 0 ? {} : { expectations: { checked, mismatches } }
}

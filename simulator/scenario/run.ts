/**
 * Runs a scenario on the in-process simulated cluster, in a virtual-time world.
 *
 * The engine and executor are the unmodified `core/` code. Each step is one fiber driven to its
 * end inside the world with a virtual-time budget, so a step that would hang in real life is
 * reported as `StepBudgetExceeded` (or `Deadlock`) instead of hanging the runner. `final.ranks`
 * is ground truth read from the simulated ranks, not what the engine believes: comparing the two
 * is how a reader sees whether the engine hid a divergence.
 */
import { Cause, Effect, Exit, Scope } from "effect"
import { makeEngine, type EngineShape, type RequestHandle } from "../../core/engine.ts"
import { Executor, makeExecutor } from "../../core/executor.ts"
import { makeRandomness, Randomness } from "../../core/random.ts"
import { makeSimCluster, type SimFaultHandle } from "../../backends/sim/cluster.ts"
import { makeWorld, type World } from "../world.ts"
import type { Scenario, Step } from "./format.ts"

export interface StepReport {
  readonly op: string
  readonly ok: boolean
  readonly value?: unknown
  readonly error?: { readonly _tag: string; readonly message: string }
  readonly outcomes?: ReadonlyArray<{ readonly rank: number; readonly tag: string }>
  /** Virtual time when the step ended. */
  readonly atMs: number
}

export interface ScenarioReport {
  readonly seed: number
  readonly steps: ReadonlyArray<StepReport>
  readonly final: {
    readonly engineState: string
    readonly ranks: ReadonlyArray<{ readonly rank: number; readonly alive: boolean; readonly asleep: boolean; readonly loras: ReadonlyArray<number> }>
  }
}

/** Virtual milliseconds a step may take when it names no timeout. */
const stepBudgetMsDefault = 600_000
/** Events one step may process: a bound against runaway loops, far above any real scenario. */
const stepEventsMax = 5_000_000
const closeTimeoutMsDefault = 2_000

interface Running {
  readonly world: World
  readonly worldSize: number
  readonly engine: EngineShape
  readonly handle: SimFaultHandle
  readonly handles: Map<string, RequestHandle>
}

/** Runs `scenario`; never throws for scenario or engine failures (they are step reports). */
export const runScenario = (scenario: Scenario): ScenarioReport => {
  const seed = scenario.seed ?? 0
  const world = makeWorld({ seed })
  const scope = Scope.makeUnsafe()
  const setup = world.run(start(scenario, seed, scope), { virtualMsMax: stepBudgetMsDefault, eventsMax: stepEventsMax })
  if (setup._tag !== "Done" || Exit.isFailure(setup.exit)) {
    const error = setup._tag === "Done" && Exit.isFailure(setup.exit) ? describeCause(setup.exit.cause) : { _tag: setup._tag, message: "setup did not finish" }
    return { seed, steps: [{ op: "start", ok: false, error, atMs: world.nowMs() }], final: { engineState: "failed", ranks: [] } }
  }
  const running: Running = { world, worldSize: scenario.ranks, ...setup.exit.value, handles: new Map() }
  const steps = scenario.steps.map((step) => runStep(running, step))
  const final = readFinal(running)
  cleanUp(running, scope)
  return { seed, steps, final }
}

const start = (scenario: Scenario, seed: number, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const cluster = yield* makeSimCluster({
      worldSize: scenario.ranks,
      outputRank: scenario.outputRank,
      model: scenario.model ?? {},
      faults: scenario.faults ?? []
    })
    const executor = yield* makeExecutor(cluster.transport, { outputRank: scenario.outputRank })
    const engine = yield* makeEngine(scenario.engine ?? {}).pipe(
      Effect.provideService(Executor, executor),
      Effect.provideService(Randomness, makeRandomness(seed))
    )
    return { engine, handle: cluster.handle }
  }).pipe(Effect.provideService(Scope.Scope, scope))

/** One step: build its effect, drive the world until it ends, report. */
const runStep = (running: Running, step: Step): StepReport => {
  const { world } = running
  if (step.op === "advance") {
    const advanced = world.advanceBy(step.ms, { eventsMax: stepEventsMax })
    return advanced._tag === "Advanced"
      ? { op: step.op, ok: true, atMs: world.nowMs() }
      : { op: step.op, ok: false, error: { _tag: "StepBudgetExceeded", message: `advance stopped at ${advanced.atMs} ms: ${advanced.reason} budget` }, atMs: world.nowMs() }
  }
  const budgetMs = (step.timeoutMs ?? stepBudgetMsDefault) * 2 + 1_000
  const result = world.run(stepEffect(running, step), { virtualMsMax: budgetMs, eventsMax: stepEventsMax })
  const atMs = world.nowMs()
  if (result._tag === "Stuck") return { op: step.op, ok: false, error: { _tag: "Deadlock", message: "the step waits on something that can never happen" }, atMs }
  if (result._tag === "BudgetExceeded") {
    return { op: step.op, ok: false, error: { _tag: "StepBudgetExceeded", message: `no answer within ${budgetMs} virtual ms (${result.reason})` }, atMs }
  }
  if (Exit.isSuccess(result.exit)) return { op: step.op, ok: true, ...successReport(step, result.exit.value, running.worldSize), atMs }
  const error = failureOf(result.exit.cause)
  return { op: step.op, ok: false, error: describeError(error), ...outcomesOf(error), atMs }
}

const stepEffect = (running: Running, step: Exclude<Step, { op: "advance" }>): Effect.Effect<unknown, unknown> => {
  const { engine, handle, handles } = running
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
  }
}

/** Control operations that succeed did so on every rank: their outcomes are all Ok. */
const allRankOps: ReadonlyArray<string> = ["addLora", "removeLora", "pinLora", "listLoras", "sleep", "wakeUp", "checkHealth"]

const successReport = (step: Step, value: unknown, worldSize: number): Pick<StepReport, "value" | "outcomes"> =>
  allRankOps.includes(step.op)
    ? { value, outcomes: Array.from({ length: worldSize }, (_, rank) => ({ rank, tag: "Ok" })) }
    : { value }

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

const describeCause = (cause: Cause.Cause<unknown>) => describeError(failureOf(cause))

const outcomesOf = (error: unknown): Pick<StepReport, "outcomes"> => {
  const result = (error as { result?: { outcomes?: ReadonlyArray<{ rank: number; _tag: string }> } })?.result
  return result?.outcomes ? { outcomes: result.outcomes.map((outcome) => ({ rank: outcome.rank, tag: outcome._tag })) } : {}
}

const readFinal = (running: Running): ScenarioReport["final"] => {
  const read = running.world.run(Effect.all([running.engine.state, running.handle.truth()]), { virtualMsMax: 0, eventsMax: stepEventsMax })
  if (read._tag !== "Done" || Exit.isFailure(read.exit)) return { engineState: "unknown", ranks: [] }
  const [engineState, truth] = read.exit.value
  return { engineState, ranks: truth.map(({ rank, alive, asleep, loras }) => ({ rank, alive, asleep, loras })) }
}

/** Heals faults, closes the engine and the cluster's scope, so the run leaves no fiber behind. */
const cleanUp = (running: Running, scope: Scope.Closeable) => {
  const budget = { virtualMsMax: stepBudgetMsDefault, eventsMax: stepEventsMax }
  running.world.run(Effect.andThen(running.handle.heal(), running.engine.close({ timeoutMs: closeTimeoutMsDefault })), budget)
  running.world.run(Scope.close(scope, Exit.void), budget)
}

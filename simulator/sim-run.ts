/**
 * One simulated run: a seed, a swarm of faults, a workload, then safety and liveness checks.
 *
 * The run builds a virtual-time world, a simulated cluster whose faults the seed chooses
 * (swarm.ts), and the unmodified engine and executor from `core/`. A workload fiber invokes
 * operations at the times the seed draws (workload.ts); every completion goes into the history
 * and through the checker (invariants.ts), which compares it with ground truth from the ranks.
 *
 * Phases, as in TigerBeetle's VOPR: a *safety* phase with faults on, where any invariant
 * violation stops the run; then faults are healed (crashed ranks stay dead) and a *liveness*
 * phase must see every pending operation finish and `close` reach a final state within a
 * virtual-time budget. Safety and liveness failures are reported apart. Everything that happens
 * is traced; the trace hash is the run's fingerprint, and one line replays the run exactly.
 */
import { Effect, Exit, Fiber, Scope } from "effect"
import { makeEngine, type EngineShape } from "../core/engine.ts"
import { Executor, type ExecutorShape, type ExecutorStats, makeExecutor } from "../core/executor.ts"
import type { CloseReport } from "../core/lifecycle.ts"
import type { CorePolicy } from "../core/policy.ts"
import { makeRandomness, makeStream, Randomness } from "../core/random.ts"
import { makeSimCluster, type SimFaultHandle } from "../backends/sim/cluster.ts"
import type { ModelOptions } from "../backends/harness.ts"
import { type History, makeHistory, type HistoryEntry, type OperationKind } from "./history.ts"
import { type Checker, makeChecker, observe, type Violation } from "./invariants.ts"
import { describeSwarm, type FaultSelection, resolveSwarm, safetyBudget, type SwarmBudget, type SwarmConfig } from "./swarm.ts"
import { makeTraceRecorder, type TraceEvent, traceHash, type TraceRecorder } from "./trace.ts"
import { generateWorkload, type ScheduledOp, type WorkloadOp } from "./workload.ts"
import { makeWorld, type World } from "./world.ts"
import { simEventTracer } from "./sim-trace.ts"
import { networkConfigOf, ruleOf, startNetworkChaos } from "./sim-faults.ts"

export interface SimRunOptions {
  readonly seed: number
  readonly ranks: number
  /** Virtual milliseconds of the safety phase (faults on, workload running). */
  readonly durationMs: number
  readonly faults: FaultSelection
  readonly budget?: SwarmBudget | undefined
  readonly opsPerSecond?: number | undefined
  /** Virtual milliseconds the liveness phase may take to finish everything and close. */
  readonly livenessBudgetMs?: number | undefined
  readonly model?: ModelOptions | undefined
  /** Keep the trace events in the result (for `--trace`); the hash is always computed. */
  readonly keepTrace?: boolean | undefined
  /** Core decision points to override: conformance mutants only. */
  readonly policy?: Partial<CorePolicy> | undefined
}

export type SimRunStatus = "ok" | "safety" | "liveness"

export interface SimRunResult {
  readonly seed: number
  readonly status: SimRunStatus
  readonly violation?: Violation | undefined
  readonly swarm: SwarmConfig
  /** The resolved configuration in one line, as printed at the start of the run. */
  readonly configuration: string
  readonly operations: { readonly invoked: number; readonly completed: number; readonly failed: number }
  readonly executor: ExecutorStats | undefined
  readonly virtualMs: number
  readonly events: number
  /** Fault points that fired, keyed `point|method|phase`. */
  readonly coverage: ReadonlyMap<string, number>
  /** Rare paths the run reached. */
  readonly paths: ReadonlyMap<string, number>
  readonly traceHash: string
  readonly trace?: ReadonlyArray<TraceEvent> | undefined
  readonly replay: string
}

const defaults = { opsPerSecond: 40, livenessBudgetMs: 120_000, closeTimeoutMs: 3_000, closeAttemptsMax: 4 }
/** Events one drive may process: a bound far above any run, so a runaway loop is caught. */
const eventsMax = 50_000_000
/** The safety phase advances in slices, so a violation stops the run soon after it happens. */
const sliceMs = 250

export type Phase = "safety" | "liveness"

/** Violations that mean "did not finish" rather than "did something wrong". */
const livenessInvariants = new Set(["liveness-operations-finish", "liveness-close-returns", "end-all-complete"])

interface Run {
  readonly options: SimRunOptions
  readonly world: World
  readonly history: History
  readonly checker: Checker
  readonly recorder: TraceRecorder
  readonly engine: EngineShape
  readonly executor: ExecutorShape
  readonly handle: SimFaultHandle
  readonly closeReports: Array<CloseReport>
  phase: Phase
  violation: Violation | undefined
}

/** Runs one seed to its verdict. Synchronous: the world runs everything on virtual time. */
export const runSimulation = (options: SimRunOptions): SimRunResult => {
  const world = makeWorld({ seed: options.seed, shuffleReadyTasks: true })
  const budget = options.budget ?? safetyBudget(options.ranks)
  const swarm = resolveSwarm(makeStream(options.seed, "swarm"), options.ranks, options.faults, budget)
  const recorder = makeTraceRecorder()
  const coverage = new Map<string, number>()
  const phaseRef = { phase: "safety" as Phase }
  const built = world.run(build(options, swarm, recorder, coverage, phaseRef), { virtualMsMax: 60_000, eventsMax })
  if (built._tag !== "Done" || Exit.isFailure(built.exit)) throw new Error(`simulation ${options.seed} did not start: ${built._tag === "Done" ? String(built.exit) : built._tag}`)
  const run: Run = {
    options, world, recorder, closeReports: [], phase: "safety", violation: undefined,
    history: makeHistory({ worldSize: options.ranks }),
    checker: makeChecker({ worldSize: options.ranks, outputRank: 0 }),
    ...built.exit.value
  }
  const workload = generateWorkload(makeStream(options.seed, "workload"), {
    durationMs: options.durationMs,
    opsPerSecond: options.opsPerSecond ?? defaults.opsPerSecond
  })
  safetyPhase(run, workload, swarm)
  if (run.violation === undefined) {
    phaseRef.phase = "liveness"
    run.phase = "liveness"
    livenessPhase(run)
  }
  return result(run, swarm, coverage)
}

const build = (
  options: SimRunOptions,
  swarm: SwarmConfig,
  recorder: TraceRecorder,
  coverage: Map<string, number>,
  phaseRef: { phase: Phase }
) =>
  Effect.gen(function* () {
    const cluster = yield* makeSimCluster({
      worldSize: options.ranks,
      seed: options.seed,
      model: options.model ?? {},
      rules: swarm.rules.map(ruleOf),
      network: networkConfigOf(swarm.network),
      observer: simEventTracer(recorder, coverage, () => phaseRef.phase)
    })
    const executor = yield* makeExecutor(cluster.transport, { policy: options.policy })
    const engine = yield* makeEngine({ controlTimeoutMs: 500, executeTimeoutMs: 5_000, policy: options.policy }).pipe(
      Effect.provideService(Executor, executor),
      Effect.provideService(Randomness, makeRandomness(options.seed))
    )
    return { engine, executor, handle: cluster.handle }
  }).pipe(Effect.provideService(Scope.Scope, Scope.makeUnsafe()))

// ---------------------------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------------------------

const safetyPhase = (run: Run, workload: ReadonlyArray<ScheduledOp>, swarm: SwarmConfig) => {
  const driver = run.world.fork(driveWorkload(run, workload))
  const chaos = run.world.fork(startNetworkChaos(run.handle, swarm.network, makeStream(run.options.seed, "chaos"), run.options.ranks))
  const endMs = run.world.nowMs() + run.options.durationMs
  while (run.world.nowMs() < endMs && run.violation === undefined) {
    const advanced = run.world.advanceBy(Math.min(sliceMs, endMs - run.world.nowMs()), { eventsMax })
    if (advanced._tag !== "Advanced") {
      run.violation = { invariant: "runaway-events", message: `the safety phase exceeded ${eventsMax} events`, operation: undefined, atMs: run.world.nowMs() }
    }
  }
  run.world.run(Effect.all([Fiber.interrupt(driver), Fiber.interrupt(chaos)]), { virtualMsMax: 1_000, eventsMax })
}

/** Heals every fault, waits for pending operations, then closes until the engine is final. */
const livenessPhase = (run: Run) => {
  const { world, handle } = run
  world.run(Effect.all([handle.stopInjecting(), handle.healNetwork(), handle.heal()]), { virtualMsMax: 1_000, eventsMax })
  const deadlineMs = world.nowMs() + (run.options.livenessBudgetMs ?? defaults.livenessBudgetMs)
  while (run.history.pending().length > 0 && world.nowMs() < deadlineMs && run.violation === undefined) {
    world.advanceBy(Math.min(sliceMs, deadlineMs - world.nowMs()), { eventsMax })
  }
  if (run.violation !== undefined) return
  const stuck = run.history.pending()
  if (stuck.length > 0) {
    run.violation = {
      invariant: "liveness-operations-finish",
      message: `${stuck.length} operation(s) still pending after the liveness budget: ${stuck.slice(0, 5).map(describeEntry).join(", ")}`,
      operation: stuck[0],
      atMs: world.nowMs()
    }
    return
  }
  for (let attempt = 0; attempt < defaults.closeAttemptsMax && run.violation === undefined; attempt++) {
    const closed = world.run(invoke(run, { _tag: "close", timeoutMs: defaults.closeTimeoutMs }), { virtualMsMax: deadlineMs - world.nowMs() + defaults.closeTimeoutMs, eventsMax })
    if (closed._tag !== "Done") {
      run.violation = { invariant: "liveness-close-returns", message: `close did not return (${closed._tag})`, operation: undefined, atMs: world.nowMs() }
      return
    }
    const last = run.closeReports.at(-1)
    if (last && last.state !== "pending-cleanup") break
  }
  if (run.violation !== undefined) return
  const observed = world.run(observeRun(run), { virtualMsMax: 0, eventsMax })
  if (observed._tag === "Done" && Exit.isSuccess(observed.exit)) {
    run.violation = run.checker.atEnd(run.history, observed.exit.value, run.closeReports)
  }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/** Sleeps until each operation's time, then starts it in its own fiber: operations overlap. */
const driveWorkload = (run: Run, workload: ReadonlyArray<ScheduledOp>) =>
  Effect.forEach(workload, (scheduled) =>
    Effect.gen(function* () {
      const waitMs = scheduled.atMs - run.world.nowMs()
      if (waitMs > 0) yield* Effect.sleep(waitMs)
      yield* Effect.forkDetach(invoke(run, scheduled.op))
    }), { discard: true })

/** Invokes one operation: history, engine call, history, checker, trace. */
const invoke = (run: Run, op: WorkloadOp): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { kind, args, effect } = operation(run.engine, op, scheduledTimeoutMs(op))
    const entry = run.history.invoke(kind, args, run.world.nowMs())
    const exit = yield* Effect.exit(effect)
    const atMs = run.world.nowMs()
    run.history.complete(entry, exit, atMs)
    if (kind === "close" && Exit.isSuccess(exit)) run.closeReports.push(exit.value as CloseReport)
    run.recorder.span("engine", kind, entry.invokedAtMs, atMs, { ok: entry.ok ?? false, ...(entry.errorTag ? { error: entry.errorTag } : {}) })
    // The executor's indefinite verdicts (a rank TimedOut or Crashed) are what the engine had to
    // reason about; they go on the executor's track.
    for (const rank of entry.ranks ?? []) {
      if (rank.status === "info") run.recorder.instant("executor", `${kind}: rank ${rank.rank} ${rank.tag}`, atMs)
    }
    if (run.violation !== undefined) return
    const observation = yield* observeRun(run)
    run.violation = run.checker.afterOperation(entry, exit, observation)
  })

const observeRun = (run: Run) => observe({ engine: run.engine, truth: run.handle.truth, history: run.history })

const scheduledTimeoutMs = (op: WorkloadOp): number | undefined => (op._tag === "close" ? op.timeoutMs : undefined)

const operation = (
  engine: EngineShape,
  op: WorkloadOp,
  _timeoutMs: number | undefined
): { kind: OperationKind; args: unknown; effect: Effect.Effect<unknown, unknown> } => {
  const { _tag: kind, ...args } = op
  switch (op._tag) {
    case "submit":
      return { kind, args, effect: op.wait ? engine.submit(op.request) : Effect.map(engine.enqueue(op.request), (handle) => ({ requestId: handle.requestId })) }
    case "await": return { kind, args, effect: engine.await(op.requestId) }
    case "abort": return { kind, args, effect: engine.abort(op.requestId) }
    case "addLora": return { kind, args, effect: engine.addLora(op.adapter) }
    case "removeLora": return { kind, args, effect: engine.removeLora(op.adapterId) }
    case "pinLora": return { kind, args, effect: engine.pinLora(op.adapterId) }
    case "listLoras": return { kind, args, effect: engine.listLoras() }
    case "sleep": return { kind, args, effect: engine.sleep(op.level) }
    case "wakeUp": return { kind, args, effect: engine.wakeUp(op.tags) }
    case "checkHealth": return { kind, args, effect: engine.checkHealth() }
    case "close": return { kind, args, effect: engine.close({ timeoutMs: op.timeoutMs }) }
  }
}

const describeEntry = (entry: HistoryEntry) => `#${entry.id} ${entry.kind}@${entry.invokedAtMs}ms`

// ---------------------------------------------------------------------------------------------
// Result
// ---------------------------------------------------------------------------------------------

const result = (run: Run, swarm: SwarmConfig, coverage: Map<string, number>): SimRunResult => {
  const stats = run.world.run(run.executor.stats, { virtualMsMax: 0, eventsMax })
  const executor = stats._tag === "Done" && Exit.isSuccess(stats.exit) ? stats.exit.value : undefined
  if (executor && executor.staleRepliesDropped > 0) run.checker.notePath("stale-reply-dropped")
  if (executor && executor.duplicateRepliesDropped > 0) run.checker.notePath("duplicate-reply-dropped")
  const entries = run.history.entries()
  const status: SimRunStatus = run.violation === undefined ? "ok" : run.phase === "liveness" && livenessInvariants.has(run.violation.invariant) ? "liveness" : "safety"
  return {
    seed: run.options.seed,
    status,
    violation: run.violation,
    swarm,
    configuration: describeSwarm(swarm),
    operations: {
      invoked: entries.length,
      completed: entries.filter((entry) => entry.completedAtMs !== undefined).length,
      failed: entries.filter((entry) => entry.ok === false).length
    },
    executor,
    virtualMs: run.world.nowMs(),
    events: run.world.stats().events,
    coverage,
    paths: run.checker.paths(),
    traceHash: traceHash(run.recorder.events(), run.recorder.dropped()),
    trace: run.options.keepTrace ? run.recorder.events() : undefined,
    replay: replayLine(run.options)
  }
}

/** The one command line that reruns exactly this run. */
export const replayLine = (options: SimRunOptions): string => {
  const faults = options.faults._tag === "swarm" ? "swarm" : options.faults._tag === "none" ? "none" : options.faults.kinds.join(",")
  const budget = options.budget ? ` --budget faulty-ranks=${options.budget.faultyRanksMax},crashes=${options.budget.crashes}` : ""
  return `rankwise simulate --seed ${options.seed} --ranks ${options.ranks} --duration ${options.durationMs}ms --faults ${faults}${budget}${options.opsPerSecond ? ` --rate ${options.opsPerSecond}` : ""}`
}

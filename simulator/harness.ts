/**
 * The simulator's cluster harness: the simulated cluster, the core executor and engine, all in
 * one virtual-time world. Budgets are virtual milliseconds; a run replays exactly from its seed.
 */
import { Cause, Effect, Exit, Scope } from "effect"
import { makeEngine } from "../core/engine.ts"
import { Executor, makeExecutor } from "../core/executor.ts"
import { makeRandomness, Randomness } from "../core/random.ts"
import { makeSimCluster, type SimClusterOptions } from "../backends/sim/cluster.ts"
import type { SimulatedWorker } from "../backends/sim/model.ts"
import { OutOfMemory } from "../core/errors.ts"
import type { SleepLevel, WorkerShape } from "../core/worker.ts"
import { callFaultKinds, type FaultSpec as SimFaultSpec, signalFaultKinds } from "../backends/sim/faults.ts"
import { type ClusterHarness, type DriveResult, type FaultSpec, type HarnessFactory, type HarnessOptions, HarnessStartError } from "../backends/harness.ts"
import { makeWorld, type World } from "./world.ts"

/** Events one drive may process: a bound against runaway loops, far above any real run. */
const eventsMax = 10_000_000
const disposeBudgetMs = 60_000
const closeTimeoutMs = 2_000

/** Drives `effect` to its end in `world`, within `budgetMs` virtual milliseconds. */
export const driveInWorld = <A, E>(world: World, effect: Effect.Effect<A, E>, budgetMs: number): DriveResult<A, E> => {
  const result = world.run(effect, { virtualMsMax: budgetMs, eventsMax })
  switch (result._tag) {
    case "Done": return { _tag: "Done", exit: result.exit }
    case "Stuck": return { _tag: "Stuck" }
    case "BudgetExceeded": return { _tag: "BudgetExceeded", budgetMs }
  }
}

/** Builds one rank's worker: the simulated model by default, or a user's own Worker. */
export type MakeWorker = NonNullable<SimClusterOptions["makeWorker"]>

/** Starts a simulated cluster with an engine over it; synchronous under the hood. */
export const startSimHarness = (
  options: HarnessOptions,
  world: World = makeWorld({ seed: options.seed }),
  makeWorker?: MakeWorker,
  backend = "sim"
): ClusterHarness => {
  const scope = Scope.makeUnsafe()
  const started = driveInWorld(world, build(options, scope, makeWorker), disposeBudgetMs)
  if (started._tag !== "Done" || Exit.isFailure(started.exit)) {
    const reason = started._tag === "Done" && Exit.isFailure(started.exit) ? Cause.pretty(started.exit.cause) : started._tag
    throw new HarnessStartError(`the simulated cluster did not start: ${reason}`)
  }
  const { engine, executor, handle } = started.exit.value
  const run = <A, E>(effect: Effect.Effect<A, E>, budgetMs: number) => Promise.resolve(driveInWorld(world, effect, budgetMs))
  return {
    backend,
    worldSize: options.ranks,
    virtualTime: true,
    engine,
    executor,
    faults: { ...handle, inject: (spec: FaultSpec) => handle.inject(spec as SimFaultSpec) },
    run,
    advance: async (ms) => void world.advanceBy(ms, { eventsMax }),
    nowMs: () => world.nowMs(),
    dispose: async () => {
      driveInWorld(world, Effect.andThen(handle.heal(), engine.close({ timeoutMs: closeTimeoutMs })), disposeBudgetMs)
      driveInWorld(world, Scope.close(scope, Exit.void), disposeBudgetMs)
    }
  }
}

const build = (options: HarnessOptions, scope: Scope.Scope, makeWorker: MakeWorker | undefined) =>
  Effect.gen(function* () {
    const cluster = yield* makeSimCluster({
      makeWorker,
      worldSize: options.ranks,
      outputRank: options.outputRank,
      model: options.model ?? {},
      faults: (options.faults ?? []) as ReadonlyArray<SimFaultSpec>
    })
    const executor = yield* makeExecutor(cluster.transport, { outputRank: options.outputRank, policy: options.policy })
    const engine = yield* makeEngine({ ...options.engine, policy: options.policy }).pipe(
      Effect.provideService(Executor, executor),
      Effect.provideService(Randomness, makeRandomness(options.seed))
    )
    return { engine, executor, handle: cluster.handle }
  }).pipe(Effect.provideService(Scope.Scope, scope))

/** The simulator as a backend for drivers. */
export const simHarnessFactory: HarnessFactory = {
  name: "sim",
  virtualTime: true,
  faultKinds: [...callFaultKinds, ...signalFaultKinds],
  start: async (options) => startSimHarness(options)
}

/**
 * Your own Worker as a backend: each rank runs the worker `makeWorker` builds, under the
 * simulator's transport, fault injection and virtual time, so the conformance suites can check
 * it (`runConformance({ backend: workerHarnessFactory({ name, makeWorker }) })`). The worker's
 * `truth()` is the ground truth the suites compare the engine's beliefs with.
 */
export const workerHarnessFactory = (options: {
  readonly name: string
  readonly makeWorker: (context: { readonly rank: number; readonly worldSize: number; readonly outputRank: number }) => OwnWorker
}): HarnessFactory => ({
  name: options.name,
  virtualTime: true,
  // oomOnWake is the simulated model's own fault; a user's worker decides its memory itself.
  faultKinds: [...callFaultKinds, ...signalFaultKinds].filter((kind) => kind !== "oomOnWake"),
  modelOptions: [],
  start: async (harnessOptions) =>
    startSimHarness(harnessOptions, makeWorld({ seed: harnessOptions.seed }), (context) => asSimulated(context.rank, options.makeWorker(context)), options.name)
})

/** A user's Worker, plus what it really holds (the suites compare the engine's beliefs with it). */
export type OwnWorker = WorkerShape & {
  readonly truth: () => { readonly asleep: boolean; readonly sleepLevel: SleepLevel | null; readonly loras: ReadonlyArray<number> }
}

const asSimulated = (rank: number, worker: OwnWorker): SimulatedWorker => ({
  ...worker,
  truth: () => ({ rank, loaded: true, pinned: [], usedBytes: 0, ...worker.truth() }),
  wakeUpOutOfMemory: () => Effect.fail(new OutOfMemory({ requestedBytes: 0, availableBytes: 0 }))
})

/**
 * The process backend's cluster harness: rank processes, and the unmodified core executor and
 * engine over them, on the wall clock.
 *
 * It mirrors the simulator's harness (simulator/harness.ts) so that drivers (the scenario runner,
 * the conformance suites) run unchanged on real processes. What differs is time: a budget is real
 * milliseconds, a drive that runs out of budget is interrupted and reported as `BudgetExceeded`
 * (a real backend can never prove `Stuck`), and `advance` really waits.
 */
import { Cause, Effect, Exit, Fiber, Scope } from "effect"
import { makeEngine } from "../../core/engine.ts"
import { Executor, makeExecutor } from "../../core/executor.ts"
import { makeRandomness, Randomness } from "../../core/random.ts"
import type { RankTransportShape } from "../../core/transport.ts"
import { type ClusterHarness, type DriveResult, type FaultHandle, type HarnessFactory, type HarnessOptions, HarnessStartError } from "../harness.ts"
import { type ProcessCluster, type ProcessClusterOptions, startProcessCluster } from "./cluster.ts"
import type { ProcessFaultHandle } from "./fault-handle.ts"
import { processFaultKinds } from "./faults.ts"

/** How long `dispose` gives the engine's close (graceful, then SIGTERM, then SIGKILL). */
const closeTimeoutMs = 3_000
/** Bound on the heal that `dispose` starts with. */
const healBudgetMs = 3_000

/** A harness over rank processes, with the real-fault handle and the cluster (pids, raw sends). */
export interface ProcessClusterHarness extends ClusterHarness {
  readonly faults: ProcessFaultHandle
  readonly cluster: ProcessCluster
}

/** Process-only knobs: how ranks are launched and how long they get to start. */
export type ProcessHarnessExtras = Pick<ProcessClusterOptions, "launch" | "readyTimeoutMs" | "controlTimeoutMs" | "workerKind" | "entry">

/** Runs `effect` on the wall clock; past `budgetMs` it is interrupted (not awaited) and reported. */
export const driveWithBudget = <A, E>(effect: Effect.Effect<A, E>, budgetMs: number): Promise<DriveResult<A, E>> =>
  new Promise((resolve) => {
    const fiber = Effect.runFork(effect)
    const timer = setTimeout(() => {
      Effect.runFork(Fiber.interrupt(fiber))
      resolve({ _tag: "BudgetExceeded", budgetMs })
    }, budgetMs)
    fiber.addObserver((exit) => {
      clearTimeout(timer)
      resolve({ _tag: "Done", exit })
    })
  })

/** Starts rank processes and an engine over them; rejects with `HarnessStartError`. */
export const startProcessHarness = async (options: HarnessOptions, extras: ProcessHarnessExtras = {}): Promise<ProcessClusterHarness> => {
  const startedMs = performance.now()
  const cluster = await startProcessCluster({
    ...extras, worldSize: options.ranks, outputRank: options.outputRank, model: options.model, faults: options.faults
  }).catch((error: unknown) => {
    throw new HarnessStartError(`the process cluster did not start: ${(error as Error).message ?? String(error)}`)
  })
  return wallClockHarness("process", cluster, options, startedMs)
}

/** What a wall-clock harness needs of a cluster of real ranks, whatever carries their messages. */
export interface RealCluster {
  readonly transport: RankTransportShape
  readonly faults: FaultHandle
  /** Kills whatever is left and awaits every rank's exit. */
  readonly dispose: () => Promise<void>
}

/**
 * An engine over a cluster of real ranks, as a harness on the wall clock: shared by every backend
 * whose ranks are real processes (over IPC, over NATS). `dispose` heals, closes the engine, then
 * lets the cluster kill anything close left running.
 */
export const wallClockHarness = async <C extends RealCluster>(
  backend: string,
  cluster: C,
  options: HarnessOptions,
  startedMs: number
): Promise<ClusterHarness & { readonly faults: C["faults"]; readonly cluster: C }> => {
  const scope = Scope.makeUnsafe()
  const built = await Effect.runPromiseExit(build(options, cluster.transport).pipe(Effect.provideService(Scope.Scope, scope)))
  if (Exit.isFailure(built)) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await cluster.dispose()
    throw new HarnessStartError(`the engine did not start on the ${backend} ranks: ${Cause.pretty(built.cause)}`)
  }
  const { engine, executor } = built.value
  let disposed: Promise<void> | undefined
  const dispose = async () => {
    await driveWithBudget(cluster.faults.heal(), healBudgetMs)
    await driveWithBudget(engine.close({ timeoutMs: closeTimeoutMs }), closeTimeoutMs * 2)
    await Effect.runPromise(Scope.close(scope, Exit.void))
    // Whatever close left running is killed here, and every exit is awaited.
    await cluster.dispose()
  }
  return {
    backend,
    worldSize: options.ranks,
    virtualTime: false,
    engine,
    executor,
    faults: cluster.faults,
    cluster,
    run: driveWithBudget,
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    nowMs: () => Math.round(performance.now() - startedMs),
    dispose: () => (disposed ??= dispose())
  }
}

const build = (options: HarnessOptions, transport: RankTransportShape) =>
  Effect.gen(function* () {
    const executor = yield* makeExecutor(transport, { outputRank: options.outputRank, policy: options.policy })
    const engine = yield* makeEngine({ ...options.engine, policy: options.policy }).pipe(
      Effect.provideService(Executor, executor),
      Effect.provideService(Randomness, makeRandomness(options.seed))
    )
    return { engine, executor }
  })

/** A harness factory whose clusters are rank processes. */
export interface ProcessHarnessFactory extends HarnessFactory {
  readonly start: (options: HarnessOptions) => Promise<ProcessClusterHarness>
}

/** Rank processes as a backend for drivers: real IPC, real signals, wall-clock time. */
export const processHarnessFactory: ProcessHarnessFactory = {
  name: "process",
  virtualTime: false,
  faultKinds: processFaultKinds,
  start: (options) => startProcessHarness(options)
}

/**
 * A simulated cluster with the core executor over it, in a virtual-time world: the harness the
 * cluster-level fault tests share (after test/core/executor.test.ts). Each harness is a fresh
 * world, so a counterexample replays exactly from its arguments.
 */
import { Cause, Effect, Exit, Scope } from "effect"
import { type ExecutorShape, makeExecutor } from "../../../core/executor.ts"
import { makeSimCluster, type SimClusterOptions, type SimFaultHandle } from "../../../backends/sim/cluster.ts"
import type { SimEvent } from "../../../backends/sim/fault-points.ts"
import { makeWorld, type World } from "../../../simulator/world.ts"

const budget = { virtualMsMax: 10_000_000, eventsMax: 10_000_000 }

export interface ClusterHarness {
  readonly world: World
  readonly executor: ExecutorShape
  readonly handle: SimFaultHandle
  /** Every event the cluster's observer heard, in order. */
  readonly observed: ReadonlyArray<SimEvent>
  /** Runs an effect in the world to its end and answers its value; a failure or deadlock throws. */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => A
}

export const makeClusterHarness = (
  options: Omit<SimClusterOptions, "model" | "observer"> & { readonly shuffleReadyTasks?: boolean }
): ClusterHarness => {
  const world = makeWorld({ seed: options.seed ?? 0, shuffleReadyTasks: options.shuffleReadyTasks })
  const scope = Scope.makeUnsafe()
  const observed: Array<SimEvent> = []
  const run = <A, E>(effect: Effect.Effect<A, E>): A => {
    const result = world.run(effect, budget)
    if (result._tag !== "Done") throw new Error(`the world run ended ${result._tag} at ${result.atMs} ms`)
    if (Exit.isFailure(result.exit)) throw new Error(Cause.pretty(result.exit.cause))
    return result.exit.value
  }
  const built = run(Effect.gen(function* () {
    const cluster = yield* makeSimCluster({ ...options, model: {}, observer: (event) => observed.push(event) })
    const executor = yield* makeExecutor(cluster.transport)
    return { executor, handle: cluster.handle }
  }).pipe(Effect.provideService(Scope.Scope, scope)))
  return { world, run, observed, ...built }
}

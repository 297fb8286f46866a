/**
 * A simulated cluster: `worldSize` simulated model ranks behind an in-memory transport, with a
 * fault handle for tests and scenarios.
 *
 * The executor sees only the `RankTransport`; the `SimCluster` handle is the hand of the test
 * author (inject and heal faults, kill a rank from outside) and the eye of the checker (`truth`
 * reads what each rank really holds, not what the control plane believes). Comparing the two is
 * how a test proves there is no silent divergence.
 */
import { Context, Effect, Layer, Scope } from "effect"
import { assert } from "../../core/assert.ts"
import type { ExitInfo } from "../../core/control.ts"
import { RankTransport, type RankTransportShape } from "../../core/transport.ts"
import type { SleepLevel } from "../../core/worker.ts"
import type { SimModelConfig } from "./config.ts"
import { checkFaultSpec, makeFaultBook, type FaultCount, type FaultSpec, type InvalidFaultSpec } from "./faults.ts"
import { makeSimulatedWorker } from "./model.ts"
import { makeSimTransport } from "./transport.ts"

export interface SimClusterOptions {
  readonly worldSize: number
  /** The rank whose `execute` answers the output; default 0. */
  readonly outputRank?: number | undefined
  readonly model: SimModelConfig
  readonly faults?: ReadonlyArray<FaultSpec> | undefined
  readonly replyDelayMs?: number | undefined
  readonly mailboxCapacity?: number | undefined
}

/** Ground truth of one simulated rank, alive or not. */
export interface SimRankTruth {
  readonly rank: number
  readonly alive: boolean
  readonly loaded: boolean
  readonly asleep: boolean
  readonly sleepLevel: SleepLevel | null
  readonly loras: ReadonlyArray<number>
  readonly pinned: ReadonlyArray<number>
  readonly usedBytes: number
  readonly exit: ExitInfo | null
}

/** The test author's controls over a simulated cluster. */
export interface SimFaultHandle {
  /** Adds a fault to the plan; a malformed spec or a rank outside the world is refused. */
  readonly inject: (spec: FaultSpec) => Effect.Effect<void, InvalidFaultSpec>
  /** Clears every fault and releases every hung call. */
  readonly heal: () => Effect.Effect<void>
  /** A SIGKILL from outside the executor; an `unkillable` rank survives it, as for real. */
  readonly kill: (rank: number) => Effect.Effect<void>
  /** What every rank really holds, in rank order. */
  readonly truth: () => Effect.Effect<ReadonlyArray<SimRankTruth>>
  /** How often each fault fired so far. */
  readonly faultCounts: () => Effect.Effect<ReadonlyArray<FaultCount>>
}

/** What `makeSimCluster` builds: the transport for the executor, the handle for the test. */
export interface SimClusterInstance {
  readonly transport: RankTransportShape
  readonly handle: SimFaultHandle
}

/** The SimCluster service: the fault handle of the cluster behind `RankTransport`. */
export class SimCluster extends Context.Service<SimCluster, SimFaultHandle>()("rankwise/SimCluster") {}

/** Builds a simulated cluster whose ranks live as long as the current scope. */
export const makeSimCluster = (options: SimClusterOptions): Effect.Effect<SimClusterInstance, InvalidFaultSpec, Scope.Scope> =>
  Effect.gen(function* () {
    const worldSize = options.worldSize
    const outputRank = options.outputRank ?? 0
    assert(Number.isInteger(worldSize) && worldSize >= 1, "a cluster has at least one rank")
    assert(Number.isInteger(outputRank) && outputRank >= 0 && outputRank < worldSize, "the output rank lies within the world")
    const faults = options.faults ?? []
    for (const spec of faults) {
      const invalid = checkFaultSpec(spec, worldSize)
      if (invalid) return yield* invalid
    }
    const workers = Array.from({ length: worldSize }, (_, rank) =>
      makeSimulatedWorker({ ...options.model, rank, worldSize, outputRank }))
    const book = makeFaultBook(worldSize, faults)
    const sim = yield* makeSimTransport({
      workers, book, replyDelayMs: options.replyDelayMs, mailboxCapacity: options.mailboxCapacity
    })

    const inject = (spec: FaultSpec) =>
      Effect.suspend(() => {
        const invalid = checkFaultSpec(spec, worldSize)
        return invalid ? Effect.fail(invalid) : Effect.sync(() => book.inject(spec))
      })

    const truth = () =>
      Effect.sync(() =>
        workers.map((worker, rank): SimRankTruth => {
          const exit = sim.exitOf(rank)
          return { ...worker.truth(), alive: exit === null, exit }
        }))

    const handle: SimFaultHandle = {
      inject,
      heal: sim.heal,
      kill: (rank) => sim.transport.signal(rank, "kill"),
      truth,
      faultCounts: () => Effect.sync(() => book.counts())
    }
    return { transport: sim.transport, handle }
  })

/** Provides `RankTransport` backed by a simulated cluster, and its fault handle as `SimCluster`. */
export const layerSimCluster = (
  options: SimClusterOptions
): Layer.Layer<RankTransport | SimCluster, InvalidFaultSpec> =>
  Layer.effectContext(Effect.map(makeSimCluster(options), (cluster) =>
    Context.make(RankTransport, cluster.transport).pipe(Context.add(SimCluster, cluster.handle))))

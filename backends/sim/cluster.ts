/**
 * A simulated cluster: `worldSize` simulated model ranks behind a simulated network, with a
 * fault handle for tests and scenarios.
 *
 * The executor sees only the `RankTransport`; the `SimCluster` handle is the hand of the test
 * author (inject and heal faults, add probabilistic rules, partition and heal the network, kill
 * a rank from outside) and the eye of the checker (`truth` reads what each rank really holds,
 * not what the control plane believes; `faultPoints` says what fired where). Comparing the two
 * is how a test proves there is no silent divergence.
 *
 * One `seed` drives the cluster's randomness through two named streams, `faults` (rules) and
 * `network` (delays, loss, swizzles), so a seed replays exactly and a change to one area leaves
 * the other's draws alone.
 */
import { Clock, Context, Effect, Layer, Scope } from "effect"
import { assert } from "../../core/assert.ts"
import type { ExitInfo } from "../../core/control.ts"
import { makeStream } from "../../core/random.ts"
import { RankTransport, type RankTransportShape } from "../../core/transport.ts"
import type { SimModelConfig } from "./config.ts"
import { makeFaultBook } from "./fault-book.ts"
import { type FaultPointCount, makeFaultPoints, type SimEvent } from "./fault-points.ts"
import {
  checkFaultRule, checkFaultSpec, type FaultCount, type FaultRule, type FaultSpec, type InvalidFaultSpec
} from "./faults.ts"
import { makeSimulatedWorker, type SimulatedWorker, type SimWorkerTruth } from "./model.ts"
import type { LinkState, SwizzleOptions } from "./network-controls.ts"
import { checkNetworkConfig, type Direction, type InvalidNetworkConfig, type NetworkConfig } from "./network.ts"
import { makeSimTransport } from "./transport.ts"

export type { FaultPointCount, SimEvent } from "./fault-points.ts"
export type { FaultRule } from "./faults.ts"
export type { LinkState, SwizzleOptions } from "./network-controls.ts"
export type { Direction, NetworkConfig } from "./network.ts"

export interface SimClusterOptions {
  readonly worldSize: number
  /**
   * Builds each rank's worker; the simulated model when absent. A user's own Worker goes here to
   * run under the simulator's transport, faults and virtual time.
   */
  readonly makeWorker?: ((context: { readonly rank: number; readonly worldSize: number; readonly outputRank: number }) => SimulatedWorker) | undefined
  /** The rank whose `execute` answers the output; default 0. */
  readonly outputRank?: number | undefined
  readonly model: SimModelConfig
  readonly faults?: ReadonlyArray<FaultSpec> | undefined
  /** Probabilistic faults, drawn from the `faults` stream of `seed`. */
  readonly rules?: ReadonlyArray<FaultRule> | undefined
  /** The seed of the cluster's `faults` and `network` streams; default 0. */
  readonly seed?: number | undefined
  /** A fixed delay on every reply; `network.reply.delayMs` overrides it. */
  readonly replyDelayMs?: number | undefined
  readonly network?: NetworkConfig | undefined
  readonly mailboxCapacity?: number | undefined
  /** Called synchronously with every event of the ranks and their links, on virtual time. */
  readonly observer?: ((event: SimEvent) => void) | undefined
}

/** Ground truth of one simulated rank, alive or not: its worker's truth plus how it ended. */
export interface SimRankTruth extends SimWorkerTruth {
  readonly alive: boolean
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
  /** Adds a probabilistic fault; a malformed rule or a rank outside the world is refused. */
  readonly addRule: (rule: FaultRule) => Effect.Effect<void, InvalidFaultSpec>
  /** Drops every rule (counted faults stay until `heal`): the start of a liveness phase. */
  readonly stopInjecting: () => Effect.Effect<void>
  /** How often each named fault point fired, by point, rank and method. */
  readonly faultPoints: () => Effect.Effect<ReadonlyArray<FaultPointCount>>
  /** Changes the network at run time: the fields `config` names change, the rest stay. */
  readonly configureNetwork: (config: NetworkConfig) => Effect.Effect<void, InvalidNetworkConfig>
  /** Partitions `rank` (one direction, or both when absent): its link holds messages until `unclog`. */
  readonly clog: (rank: number, direction?: Direction | undefined) => Effect.Effect<void>
  /** Heals the partition of `rank`; held messages go out in order. */
  readonly unclog: (rank: number) => Effect.Effect<void>
  /** Clogs a random subset of ranks one by one, then unclogs them in random order, over virtual time. */
  readonly swizzle: (options?: SwizzleOptions) => Effect.Effect<void>
  /** Unclogs every link and sets every network probability to 0; delays stay. */
  readonly healNetwork: () => Effect.Effect<void>
  /** Every link's state: clogged, messages in flight, configuration. */
  readonly links: () => Effect.Effect<ReadonlyArray<LinkState>>
}

/** What `makeSimCluster` builds: the transport for the executor, the handle for the test. */
export interface SimClusterInstance {
  readonly transport: RankTransportShape
  readonly handle: SimFaultHandle
}

/** The SimCluster service: the fault handle of the cluster behind `RankTransport`. */
export class SimCluster extends Context.Service<SimCluster, SimFaultHandle>()("rankwise/SimCluster") {}

/** Builds a simulated cluster whose ranks live as long as the current scope. */
export const makeSimCluster = (
  options: SimClusterOptions
): Effect.Effect<SimClusterInstance, InvalidFaultSpec | InvalidNetworkConfig, Scope.Scope> =>
  Effect.gen(function* () {
    const worldSize = options.worldSize
    const outputRank = options.outputRank ?? 0
    const seed = options.seed ?? 0
    assert(Number.isInteger(worldSize) && worldSize >= 1, "a cluster has at least one rank")
    assert(Number.isInteger(outputRank) && outputRank >= 0 && outputRank < worldSize, "the output rank lies within the world")
    assert(Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff, "a cluster seed is an unsigned 32-bit integer")
    const invalid = checkOptions(options)
    if (invalid !== undefined) return yield* invalid
    const workers = Array.from({ length: worldSize }, (_, rank) =>
      options.makeWorker ? options.makeWorker({ rank, worldSize, outputRank }) : makeSimulatedWorker({ ...options.model, rank, worldSize, outputRank }))
    const book = makeFaultBook(worldSize, options.faults ?? [], { rules: options.rules, random: makeStream(seed, "faults") })
    // Observer times come from the clock the cluster was built under, read synchronously.
    const clock = yield* Clock.Clock
    const points = makeFaultPoints(() => clock.currentTimeMillisUnsafe(), options.observer)
    const sim = yield* makeSimTransport({
      workers, book, points, replyDelayMs: options.replyDelayMs, mailboxCapacity: options.mailboxCapacity,
      network: options.network, random: makeStream(seed, "network")
    })

    const inject = (spec: FaultSpec) =>
      Effect.suspend(() => {
        const invalid = checkFaultSpec(spec, worldSize)
        return invalid ? Effect.fail(invalid) : Effect.sync(() => book.inject(spec))
      })

    const addRule = (rule: FaultRule) =>
      Effect.suspend(() => {
        const invalid = checkFaultRule(rule, worldSize)
        return invalid ? Effect.fail(invalid) : Effect.sync(() => book.addRule(rule))
      })

    const truth = () =>
      Effect.sync(() =>
        workers.map((worker, rank): SimRankTruth => {
          const exit = sim.exitOf(rank)
          // Read after every simulated operation by the checker: fields copied, not spread (measured).
          const { loaded, asleep, sleepLevel, loras, pinned, usedBytes } = worker.truth()
          return { rank, loaded, asleep, sleepLevel, loras, pinned, usedBytes, alive: exit === null, exit }
        }))

    const handle: SimFaultHandle = {
      inject,
      heal: sim.heal,
      kill: (rank) => sim.transport.signal(rank, "kill"),
      truth,
      faultCounts: () => Effect.sync(() => book.counts()),
      addRule,
      stopInjecting: () => Effect.sync(() => book.stopInjecting()),
      faultPoints: () => Effect.sync(() => points.counts()),
      configureNetwork: sim.network.configure,
      clog: sim.network.clog,
      unclog: sim.network.unclog,
      swizzle: sim.network.swizzle,
      healNetwork: sim.network.heal,
      links: sim.network.links
    }
    return { transport: sim.transport, handle }
  })

/** The first malformed fault, rule or network setting of the options, if any. */
const checkOptions = (options: SimClusterOptions): InvalidFaultSpec | InvalidNetworkConfig | undefined => {
  for (const spec of options.faults ?? []) {
    const invalid = checkFaultSpec(spec, options.worldSize)
    if (invalid) return invalid
  }
  for (const rule of options.rules ?? []) {
    const invalid = checkFaultRule(rule, options.worldSize)
    if (invalid) return invalid
  }
  return options.network === undefined ? undefined : checkNetworkConfig(options.network, options.worldSize)
}

/** Provides `RankTransport` backed by a simulated cluster, and its fault handle as `SimCluster`. */
export const layerSimCluster = (
  options: SimClusterOptions
): Layer.Layer<RankTransport | SimCluster, InvalidFaultSpec | InvalidNetworkConfig> =>
  Layer.effectContext(Effect.map(makeSimCluster(options), (cluster) =>
    Context.make(RankTransport, cluster.transport).pipe(Context.add(SimCluster, cluster.handle))))

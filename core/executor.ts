/**
 * The Executor: collective calls to every rank, the data plane, rank-death detection, shutdown.
 *
 * This is where the upstream holes close. A collective call sends one message per wave, then
 * gathers exactly one outcome per targeted rank (it never stops at the first failure), and an
 * aggregator decides what the call means. Replies carry their wave id; a reply to a wave that is
 * no longer pending (it timed out, or it is a duplicate) is dropped and counted, never delivered
 * to a later call. The death of any rank fails the executor at once: pending calls resolve
 * without waiting for their deadlines and every later call fails fast with `ExecutorDead`.
 *
 * The executor is backend-neutral: it sees ranks only through the `RankTransport` contract and
 * time only through Effect's `Clock`, so the simulator runs this exact code on virtual time.
 */
import { Clock, Context, Deferred, Duration, Effect, Layer } from "effect"
import { assert } from "./assert.ts"
import {
  type AggregateError, type Aggregator, type CollectiveResult, CollectiveRpcError, type ExitInfo,
  fromRank, type RankOutcome
} from "./control.ts"
import { or, outputRankOnly, readWave } from "./policy-mutations.ts"
import { ExecutorBusy, ExecutorClosed, ExecutorDead, OutputContractError, type WorkerError } from "./errors.ts"
import { RankTransport, type RankTransportShape, type TransportEvent } from "./transport.ts"
import type { Batch, ExecuteReply, WorkerCall, WorkerMethod, WorkerValues } from "./worker.ts"
import { type CorePolicy, resolvePolicy } from "./policy.ts"
import { makeWaveBook, type WaveBook } from "./wave.ts"
import { escalateShutdown, type ShutdownOptions, type ShutdownReport } from "./shutdown.ts"

export type { ShutdownOptions, ShutdownReport } from "./shutdown.ts"

/** `running` until a rank dies (`failed`) or shutdown starts; `stopped` once every rank exited. */
export type ExecutorState = "running" | "failed" | "shuttingDown" | "stopped"

export interface CollectiveOptions<A, B> {
  /** Target ranks, ascending; all ranks when absent. */
  readonly ranks?: ReadonlyArray<number> | undefined
  readonly timeoutMs: number
  readonly aggregate: Aggregator<A, B>
}

export interface ExecutorStats {
  readonly wavesSent: number
  readonly staleRepliesDropped: number
  readonly duplicateRepliesDropped: number
  readonly malformedReplies: number
  readonly wavesInFlight: number
}

/** Why the executor failed: the first ranks that died and how. */
export interface ExecutorFailure {
  readonly deadRanks: ReadonlyArray<number>
  readonly exits: ReadonlyArray<{ readonly rank: number; readonly exit: ExitInfo }>
}

export type CallError = ExecutorDead | ExecutorClosed | ExecutorBusy
type ValueOf<M extends WorkerMethod> = WorkerValues[M]

export interface ExecutorShape {
  readonly worldSize: number
  readonly outputRank: number
  /** One wave to the targeted ranks, aggregated. Fails with every outcome when any rank is not Ok. */
  readonly collectiveRpc: <C extends WorkerCall, B>(
    call: C,
    options: CollectiveOptions<ValueOf<C["method"]>, B>
  ) => Effect.Effect<B, AggregateError | CallError>
  /** One wave, unaggregated: the raw per-rank outcomes. */
  readonly collectiveResult: <C extends WorkerCall>(
    call: C,
    options: { readonly ranks?: ReadonlyArray<number> | undefined; readonly timeoutMs: number }
  ) => Effect.Effect<CollectiveResult<ValueOf<C["method"]>, WorkerError>, CallError>
  /**
   * The data plane: every rank executes the batch; the output rank's output is the answer, and
   * the batch fails when any rank fails, whichever rank answered first.
   */
  readonly execute: (
    batch: Batch,
    options: { readonly timeoutMs: number }
  ) => Effect.Effect<unknown, CollectiveRpcError | OutputContractError | CallError>
  readonly state: Effect.Effect<ExecutorState>
  /** Ranks that have exited, ascending. */
  readonly exitedRanks: Effect.Effect<ReadonlyArray<number>>
  /** Registers a listener called once, when the first rank death fails the executor. */
  readonly onFailure: (listener: (failure: ExecutorFailure) => void) => Effect.Effect<void>
  readonly stats: Effect.Effect<ExecutorStats>
  /** Graceful stop, then terminate, then kill, each bounded; may be called again to retry survivors. */
  readonly shutdown: (options: ShutdownOptions) => Effect.Effect<ShutdownReport>
}

/** The Executor service. */
export class Executor extends Context.Service<Executor, ExecutorShape>()("rankwise/Executor") {}

export interface ExecutorConfig {
  readonly outputRank?: number | undefined
  /** How many waves may be pending at once; past it calls fail with `ExecutorBusy`. */
  readonly wavesInFlightMax?: number | undefined
  /** Decision points; the correct policy unless a conformance mutant overrides one. */
  readonly policy?: Partial<CorePolicy> | undefined
}

/** Builds an executor over a transport. The transport's ranks must be started. */
export const makeExecutor = (transport: RankTransportShape, config: ExecutorConfig = {}) =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    const worldSize = transport.worldSize
    const outputRank = config.outputRank ?? 0
    assert(worldSize >= 1, "an executor has at least one rank")
    assert(outputRank >= 0 && outputRank < worldSize, "the output rank is one of the ranks")
    const policy = resolvePolicy(config.policy)
    const waves = makeWaveBook(worldSize, config.wavesInFlightMax ?? 16, () => clock.currentTimeMillisUnsafe(), policy)
    const lifecycle = makeLifecycle(worldSize, waves, policy)
    yield* transport.listen((event) => lifecycle.handle(event))

    const collectiveResult = <C extends WorkerCall>(
      call: C,
      options: { readonly ranks?: ReadonlyArray<number> | undefined; readonly timeoutMs: number }
    ) => Effect.map(
      runWave(transport, waves, lifecycle, call, targetRanks(worldSize, options.ranks), options.timeoutMs),
      (result) => readWave(result, policy)
    ) as Effect.Effect<
      CollectiveResult<ValueOf<C["method"]>, WorkerError>,
      CallError
    >

    const collectiveRpc = <C extends WorkerCall, B>(call: C, options: CollectiveOptions<ValueOf<C["method"]>, B>) => {
      const aggregate = policy.booleanAggregation === "or" && options.aggregate.name === "and" ? or as unknown as Aggregator<ValueOf<C["method"]>, B> : options.aggregate
      return Effect.flatMap(collectiveResult(call, options), (result) => Effect.fromResult(aggregate.aggregate(result)))
    }

    const execute = (batch: Batch, options: { readonly timeoutMs: number }) =>
      Effect.flatMap(
        collectiveRpc({ method: "execute", batch } as WorkerCall & { method: "execute" }, {
          timeoutMs: options.timeoutMs,
          aggregate: policy.dataPlane === "every-rank" ? fromRank<ExecuteReply>(outputRank) : outputRankOnly<ExecuteReply>(outputRank)
        }),
        (reply) => reply._tag === "Output"
          ? Effect.succeed(reply.output)
          : Effect.fail(new OutputContractError({ key: "(execute)", problem: `output rank ${outputRank} answered Ack, not an output` }))
      ) as Effect.Effect<unknown, CollectiveRpcError | OutputContractError | CallError>

    const shutdown = (options: ShutdownOptions) =>
      Effect.suspend(() => {
        lifecycle.beginShutdown()
        return escalateShutdown(transport, waves, lifecycle, options)
      }).pipe(Effect.tap((report) => Effect.sync(() => lifecycle.endShutdown(report))))

    return Executor.of({
      worldSize,
      outputRank,
      collectiveRpc: collectiveRpc as ExecutorShape["collectiveRpc"],
      collectiveResult,
      execute,
      state: Effect.sync(() => lifecycle.state()),
      exitedRanks: Effect.sync(() => lifecycle.exitedRanks()),
      onFailure: (listener) => Effect.sync(() => lifecycle.onFailure(listener)),
      stats: Effect.sync(() => ({ ...waves.counters(), wavesInFlight: waves.inFlight() })),
      shutdown
    })
  })

/** The Executor layer over the `RankTransport` in context. */
export const layerExecutor = (config: ExecutorConfig = {}) =>
  Layer.effect(Executor, Effect.flatMap(RankTransport, (transport) => makeExecutor(transport, config)))

const targetRanks = (worldSize: number, ranks: ReadonlyArray<number> | undefined): ReadonlyArray<number> => {
  if (ranks === undefined) return Array.from({ length: worldSize }, (_, rank) => rank)
  assert(ranks.length > 0, "a collective call targets at least one rank")
  for (let index = 0; index < ranks.length; index++) {
    assert(Number.isInteger(ranks[index]) && ranks[index] >= 0 && ranks[index] < worldSize, "a target rank exists")
    assert(index === 0 || ranks[index - 1] < ranks[index], "target ranks are ascending, each once")
  }
  return ranks
}

/**
 * One wave: refuse when the executor cannot serve, register the wave, send, then wait for every
 * outcome or the deadline, whichever comes first. The wave is unregistered on every exit path
 * (success, deadline, interruption), so a late reply finds no pending wave and is dropped.
 */
const runWave = (
  transport: RankTransportShape,
  waves: WaveBook,
  lifecycle: Lifecycle,
  call: WorkerCall,
  ranks: ReadonlyArray<number>,
  timeoutMs: number
): Effect.Effect<CollectiveResult<unknown, WorkerError>, CallError> =>
  Effect.suspend((): Effect.Effect<CollectiveResult<unknown, WorkerError>, CallError> => {
    assert(Number.isFinite(timeoutMs) && timeoutMs >= 0, "a collective call has a finite deadline")
    const refusal = lifecycle.refusal(call.method)
    if (refusal) return Effect.fail(refusal)
    if (waves.inFlight() >= waves.wavesInFlightMax) {
      return Effect.fail(new ExecutorBusy({ method: call.method, wavesInFlightMax: waves.wavesInFlightMax }))
    }
    const wave = waves.open(call.method, ranks)
    // Combinators, not `Effect.gen`: this runs once per collective, and a generator per wave was
    // a measurable share of the executor's own cost (bench/executor.bench.ts).
    return transport.send({ waveId: wave.waveId, call }, ranks).pipe(
      Effect.flatMap((unreachable) => {
        for (const rank of unreachable) waves.settle(wave.waveId, unreachedOutcome(rank, lifecycle.exitOf(rank)))
        return Effect.timeoutOption(Deferred.await(wave.done), Duration.millis(timeoutMs))
      }),
      Effect.map((answered) =>
        waves.close(wave.waveId, (rank) => answered._tag === "Some"
          ? { _tag: "Unreached", rank, reason: "abandoned after the first failure" }
          : { _tag: "TimedOut", rank, afterMs: timeoutMs })),
      Effect.onInterrupt(() => Effect.sync(() => waves.discard(wave.waveId)))
    )
  })

const unreachedOutcome = (rank: number, exit: ExitInfo | undefined): RankOutcome<unknown, WorkerError> =>
  exit
    ? { _tag: "Crashed", rank, exit }
    : { _tag: "Unreached", rank, reason: "the transport could not hand the call to the rank" }

// ---------------------------------------------------------------------------------------------
// Lifecycle: rank exits, the failed state, listeners.
// ---------------------------------------------------------------------------------------------

export interface Lifecycle {
  readonly handle: (event: TransportEvent) => void
  readonly state: () => ExecutorState
  readonly refusal: (method: string) => ExecutorDead | ExecutorClosed | undefined
  readonly exitOf: (rank: number) => ExitInfo | undefined
  readonly exitedRanks: () => ReadonlyArray<number>
  readonly aliveRanks: () => ReadonlyArray<number>
  /** A Deferred per rank, done when it exits: shutdown waits on these. */
  readonly exited: ReadonlyArray<Deferred.Deferred<ExitInfo>>
  readonly onFailure: (listener: (failure: ExecutorFailure) => void) => void
  readonly beginShutdown: () => void
  readonly endShutdown: (report: ShutdownReport) => void
}

const makeLifecycle = (worldSize: number, waves: WaveBook, policy: CorePolicy): Lifecycle => {
  let state: ExecutorState = "running"
  const exits = new Map<number, ExitInfo>()
  const exited = Array.from({ length: worldSize }, () => Deferred.makeUnsafe<ExitInfo>())
  const listeners: Array<(failure: ExecutorFailure) => void> = []
  let failure: ExecutorFailure | undefined

  const rankExited = (rank: number, exit: ExitInfo) => {
    if (exits.has(rank)) return // a transport reports an exit once; tolerate a repeat, never act twice
    exits.set(rank, exit)
    Deferred.doneUnsafe(exited[rank], Effect.succeed(exit))
    // A mutant may ignore exits and learn of a death only when its calls time out.
    if (policy.deathDetection === "timeout-only" && state === "running") return
    if (state === "running") fail(rank, exit)
    waves.rankExited(rank, exit)
  }

  // The first death fails the executor: pending waves resolve now, not at their deadlines.
  const fail = (rank: number, exit: ExitInfo) => {
    state = "failed"
    failure = { deadRanks: [rank], exits: [{ rank, exit }] }
    waves.abandonAll(rank, exit)
    for (const listener of listeners.splice(0)) listener(failure)
  }

  const handle = (event: TransportEvent) => {
    switch (event._tag) {
      case "Reply":
        if (exits.has(event.reply.rank) && policy.deathDetection === "exit-event") return waves.countStale()
        return waves.deliver(event.reply)
      case "Exited":
        assert(event.rank >= 0 && event.rank < worldSize, "an exited rank exists")
        return rankExited(event.rank, event.exit)
      case "Malformed":
        return waves.countMalformed()
    }
  }

  const refusal = (method: string) => {
    if (state === "failed") return new ExecutorDead({ method, deadRanks: failure?.deadRanks ?? [...exits.keys()] })
    if (state === "shuttingDown" || state === "stopped") return new ExecutorClosed({ method })
    return undefined
  }

  return {
    handle,
    state: () => state,
    refusal,
    exitOf: (rank) => exits.get(rank),
    exitedRanks: () => [...exits.keys()].sort((a, b) => a - b),
    aliveRanks: () => Array.from({ length: worldSize }, (_, rank) => rank).filter((rank) => !exits.has(rank)),
    exited,
    onFailure: (listener) => {
      if (failure) return // already failed: "fires once" means it fired; a late listener is told nothing new
      listeners.push(listener)
    },
    beginShutdown: () => {
      if (state !== "stopped") state = "shuttingDown"
    },
    endShutdown: (report) => {
      if (report.survivingRanks.length === 0) state = "stopped"
    }
  }
}

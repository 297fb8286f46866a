/**
 * Shutdown escalation: ask nicely, then terminate, then kill, each step bounded.
 *
 * Upstream's `close()` gave up after a timeout and left workers running without telling anyone.
 * Here every step has a grace period with its unit in its name, the whole escalation is bounded
 * by their sum, and the report names which ranks stopped and which survived. Survivors are not
 * forgotten: calling shutdown again escalates against exactly those ranks.
 */
import { Deferred, Duration, Effect } from "effect"
import type { ExitInfo } from "./control.ts"
import type { RankTransportShape, StopSignal } from "./transport.ts"
import type { WaveBook } from "./wave.ts"

export interface ShutdownOptions {
  /** How long ranks get to stop after the graceful `shutdown` call. */
  readonly graceMs: number
  /** How long ranks get to exit after a terminate signal; defaults to `graceMs`. */
  readonly terminateGraceMs?: number | undefined
  /** How long ranks get to exit after a kill signal; defaults to `graceMs`. */
  readonly killGraceMs?: number | undefined
}

export interface ShutdownReport {
  /** Ranks that have exited (in this or an earlier attempt), ascending. */
  readonly stoppedRanks: ReadonlyArray<number>
  /** Ranks still running after every step, ascending: they need another attempt. */
  readonly survivingRanks: ReadonlyArray<number>
  readonly exits: ReadonlyArray<{ readonly rank: number; readonly exit: ExitInfo }>
  /** Which ranks each step had to address. */
  readonly escalation: {
    readonly graceful: ReadonlyArray<number>
    readonly terminated: ReadonlyArray<number>
    readonly killed: ReadonlyArray<number>
  }
}

/** What escalation needs from the executor's lifecycle. */
export interface RankExits {
  readonly aliveRanks: () => ReadonlyArray<number>
  readonly exitOf: (rank: number) => ExitInfo | undefined
  readonly exited: ReadonlyArray<Deferred.Deferred<ExitInfo>>
}

/** Total time an escalation may take. */
export const shutdownBudgetMs = (options: ShutdownOptions): number =>
  options.graceMs + (options.terminateGraceMs ?? options.graceMs) + (options.killGraceMs ?? options.graceMs)

export const escalateShutdown = (
  transport: RankTransportShape,
  waves: WaveBook,
  exits: RankExits,
  options: ShutdownOptions
): Effect.Effect<ShutdownReport> =>
  Effect.gen(function* () {
    const graceful = exits.aliveRanks()
    const waveId = graceful.length > 0 ? yield* askToStop(transport, waves, graceful) : undefined
    // The graceful wave stays open for the whole escalation, so the ranks' acknowledgements are
    // matched to it rather than counted as stale replies; it is discarded when escalation ends.
    return yield* escalate(transport, exits, options, graceful).pipe(
      Effect.ensuring(Effect.sync(() => waveId !== undefined && waves.discard(waveId)))
    )
  })

const escalate = (transport: RankTransportShape, exits: RankExits, options: ShutdownOptions, graceful: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    yield* waitForExits(exits, graceful, options.graceMs)
    const terminated = exits.aliveRanks()
    yield* signalAll(transport, terminated, "terminate")
    yield* waitForExits(exits, terminated, options.terminateGraceMs ?? options.graceMs)
    const killed = exits.aliveRanks()
    yield* signalAll(transport, killed, "kill")
    yield* waitForExits(exits, killed, options.killGraceMs ?? options.graceMs)
    return report(transport.worldSize, exits, { graceful, terminated, killed })
  })

// The graceful call travels as a wave; nobody awaits its replies: what counts is that the rank exits.
const askToStop = (transport: RankTransportShape, waves: WaveBook, ranks: ReadonlyArray<number>) =>
  Effect.suspend(() => {
    if (waves.inFlight() >= waves.wavesInFlightMax) return Effect.succeed(undefined) // no room: escalate by signal
    const wave = waves.open("shutdown", ranks)
    return Effect.as(transport.send({ waveId: wave.waveId, call: { method: "shutdown" } }, ranks), wave.waveId)
  })

const signalAll = (transport: RankTransportShape, ranks: ReadonlyArray<number>, signal: StopSignal) =>
  Effect.forEach(ranks, (rank) => transport.signal(rank, signal), { discard: true })

const waitForExits = (exits: RankExits, ranks: ReadonlyArray<number>, graceMs: number) =>
  ranks.length === 0
    ? Effect.void
    : Effect.asVoid(Effect.timeoutOption(
      Effect.forEach(ranks, (rank) => Deferred.await(exits.exited[rank]), { discard: true }),
      Duration.millis(graceMs)
    ))

const report = (
  worldSize: number,
  exits: RankExits,
  escalation: ShutdownReport["escalation"]
): ShutdownReport => {
  const survivingRanks = exits.aliveRanks()
  const stoppedRanks = Array.from({ length: worldSize }, (_, rank) => rank).filter((rank) => exits.exitOf(rank) !== undefined)
  return {
    stoppedRanks,
    survivingRanks,
    exits: stoppedRanks.map((rank) => ({ rank, exit: exits.exitOf(rank)! })),
    escalation
  }
}

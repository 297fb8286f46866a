/**
 * Waves: the bookkeeping of collective calls in flight.
 *
 * A wave is one collective call under one id. The book records at most one outcome per targeted
 * rank and completes the wave's `done` signal when every targeted rank has one. It is the single
 * place that decides whether a reply is delivered: a reply whose wave is no longer pending is
 * stale (its call timed out or was interrupted), and a second reply from one rank to one wave is
 * a duplicate; both are dropped and counted, never delivered to a later call.
 */
import { Deferred, Effect } from "effect"
import { assert } from "./assert.ts"
import type { CollectiveResult, ExitInfo, RankOutcome } from "./control.ts"
import type { WorkerError } from "./errors.ts"
import type { CorePolicy } from "./policy.ts"
import type { RankReply } from "./transport.ts"

type Outcome = RankOutcome<unknown, WorkerError>

/** How many closed waves are remembered for classifying late copies. */
const recentlyClosedMax = 64

export interface PendingWave {
  readonly waveId: number
  readonly method: string
  readonly ranks: ReadonlyArray<number>
  readonly startedMs: number
  readonly outcomes: Map<number, Outcome>
  readonly done: Deferred.Deferred<void>
}

export interface WaveCounters {
  readonly wavesSent: number
  readonly staleRepliesDropped: number
  readonly duplicateRepliesDropped: number
  readonly malformedReplies: number
}

export interface WaveBook {
  readonly wavesInFlightMax: number
  readonly open: (method: string, ranks: ReadonlyArray<number>) => PendingWave
  /** Records an outcome the executor decided itself (unreached, crashed). */
  readonly settle: (waveId: number, outcome: Outcome) => void
  /** Records a rank's reply, or drops it as stale or duplicate. */
  readonly deliver: (reply: RankReply) => void
  /** Ends the wave: ranks without an outcome get `missing(rank)`. Outcomes come back ordered by rank. */
  readonly close: (waveId: number, missing: (rank: number) => Outcome) => CollectiveResult<unknown, WorkerError>
  readonly discard: (waveId: number) => void
  /** A rank exited: it will never answer the waves it has not answered. */
  readonly rankExited: (rank: number, exit: ExitInfo) => void
  /** The executor failed: every pending wave resolves now; ranks still silent are left indefinite. */
  readonly abandonAll: (deadRank: number, exit: ExitInfo) => void
  readonly countStale: () => void
  readonly countMalformed: () => void
  readonly inFlight: () => number
  readonly counters: () => WaveCounters
}

export const makeWaveBook = (
  worldSize: number,
  wavesInFlightMax: number,
  nowMs: () => number,
  policy: Pick<CorePolicy, "waveIds" | "waveReading">
): WaveBook => {
  assert(wavesInFlightMax >= 1, "at least one wave may be in flight")
  const pending = new Map<number, PendingWave>()
  let nextWaveId = 1
  let wavesSent = 0
  let staleRepliesDropped = 0
  let duplicateRepliesDropped = 0
  let malformedReplies = 0
  // The ranks that answered each of the last closed waves, to tell duplicates from stale replies.
  const recentlyClosed = new Map<number, ReadonlySet<number>>()
  const rememberClosed = (wave: PendingWave) => {
    const answered = new Set([...wave.outcomes].filter(([, outcome]) => outcome._tag === "Ok" || outcome._tag === "Failed").map(([rank]) => rank))
    recentlyClosed.set(wave.waveId, answered)
    if (recentlyClosed.size > recentlyClosedMax) recentlyClosed.delete(recentlyClosed.keys().next().value!)
  }

  const record = (wave: PendingWave, outcome: Outcome) => {
    assert(!wave.outcomes.has(outcome.rank), "a wave records one outcome per rank")
    wave.outcomes.set(outcome.rank, outcome)
    const stopEarly = policy.waveReading === "first-failure-wins" && outcome._tag !== "Ok"
    if (stopEarly || wave.outcomes.size === wave.ranks.length) Deferred.doneUnsafe(wave.done, Effect.void)
  }

  const open = (method: string, ranks: ReadonlyArray<number>): PendingWave => {
    assert(pending.size < wavesInFlightMax, "the caller checked wavesInFlightMax")
    const wave: PendingWave = {
      waveId: nextWaveId++,
      method,
      ranks,
      startedMs: nowMs(),
      outcomes: new Map(),
      done: Deferred.makeUnsafe<void>()
    }
    pending.set(wave.waveId, wave)
    wavesSent++
    if (ranks.length === 0) Deferred.doneUnsafe(wave.done, Effect.void)
    return wave
  }

  const settle = (waveId: number, outcome: Outcome) => {
    const wave = pending.get(waveId)
    if (wave && wave.ranks.includes(outcome.rank) && !wave.outcomes.has(outcome.rank)) record(wave, outcome)
  }

  const deliver = (reply: RankReply) => {
    assert(reply.rank >= 0 && reply.rank < worldSize, "a reply comes from an existing rank")
    const wave = policy.waveIds === "checked" ? pending.get(reply.waveId) : oldestAwaiting(reply.rank)
    if (wave === undefined) {
      // A second copy of a reply to a wave that just closed is a duplicate, not a late answer.
      if (recentlyClosed.get(reply.waveId)?.has(reply.rank)) return void duplicateRepliesDropped++
      return void staleRepliesDropped++
    }
    if (!wave.ranks.includes(reply.rank) || wave.outcomes.has(reply.rank)) return void duplicateRepliesDropped++
    const outcome: Outcome = reply.result._tag === "Ok"
      ? { _tag: "Ok", rank: reply.rank, value: reply.result.value, elapsedMs: nowMs() - wave.startedMs }
      : { _tag: "Failed", rank: reply.rank, error: reply.result.error }
    record(wave, outcome)
  }

  // Only a mutant reads replies this way: the rank's oldest unanswered wave, whatever the id.
  const oldestAwaiting = (rank: number) =>
    [...pending.values()].find((wave) => wave.ranks.includes(rank) && !wave.outcomes.has(rank))

  const close = (waveId: number, missing: (rank: number) => Outcome): CollectiveResult<unknown, WorkerError> => {
    const wave = pending.get(waveId)
    assert(wave !== undefined, "only a pending wave is closed")
    pending.delete(waveId)
    rememberClosed(wave)
    const outcomes = wave.ranks.map((rank) => wave.outcomes.get(rank) ?? missing(rank))
    assert(outcomes.length === wave.ranks.length, "one outcome per targeted rank")
    return { method: wave.method, waveId, outcomes }
  }

  const rankExited = (rank: number, exit: ExitInfo) => {
    for (const wave of pending.values()) settle(wave.waveId, { _tag: "Crashed", rank, exit })
  }

  // The dead rank is Crashed. A live rank that has not answered may still be applying the call,
  // so its outcome stays indefinite (TimedOut after the time waited), never a definite Unreached.
  const abandonAll = (deadRank: number, exit: ExitInfo) => {
    for (const wave of pending.values()) {
      settle(wave.waveId, { _tag: "Crashed", rank: deadRank, exit })
      const afterMs = nowMs() - wave.startedMs
      for (const rank of wave.ranks) settle(wave.waveId, { _tag: "TimedOut", rank, afterMs })
    }
  }

  return {
    wavesInFlightMax,
    open,
    settle,
    deliver,
    close,
    discard: (waveId) => {
      const wave = pending.get(waveId)
      if (wave) rememberClosed(wave)
      pending.delete(waveId)
    },
    rankExited,
    abandonAll,
    countStale: () => void staleRepliesDropped++,
    countMalformed: () => void malformedReplies++,
    inFlight: () => pending.size,
    counters: () => ({ wavesSent, staleRepliesDropped, duplicateRepliesDropped, malformedReplies })
  }
}

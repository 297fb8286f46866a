/**
 * The test author's hand on a process cluster: real faults, real signals, and ground truth.
 *
 * `inject` and `heal` reach the fault points inside the rank processes over IPC; `kill`,
 * `terminate`, `stop` and `resume` are real signals (SIGKILL, SIGTERM, SIGSTOP, SIGCONT), so a
 * stopped rank is a real hang that no message can end. `truth` asks every live rank what its
 * worker holds; a rank that cannot answer (stopped) or has exited is reported from the parent's
 * memory of what it last said, with `answered` telling which.
 */
import { Data, Effect } from "effect"
import type { ExitInfo } from "../../core/control.ts"
import type { FaultHandle, FaultSpec, RankTruth } from "../harness.ts"
import type { FaultSpec as SimFaultSpec, InvalidFaultSpec } from "../sim/faults.ts"
import { checkProcessFault, type UnsupportedFault } from "./faults.ts"
import type { RankControl } from "./rank-control.ts"
import type { RankProcess } from "./rank-process.ts"

/** Ground truth of one rank process. */
export interface ProcessRankTruth extends RankTruth {
  readonly pid: number
  readonly loaded: boolean
  readonly usedBytes: number
  /** False when the rank did not answer (stopped, or exited): the state is what it last reported. */
  readonly answered: boolean
}

/** An injected fault did not reach its rank (it has exited, or did not answer in time). */
export class FaultNotDelivered extends Data.TaggedError("FaultNotDelivered")<{
  readonly rank: number
  readonly reason: string
}> {
  override get message() { return `the fault did not reach rank ${this.rank}: ${this.reason}` }
}

export type InjectError = InvalidFaultSpec | UnsupportedFault | FaultNotDelivered

export interface ProcessFaultHandle extends FaultHandle {
  readonly inject: (spec: FaultSpec) => Effect.Effect<void, InjectError>
  /** SIGKILL, then waits (bounded) until the executor has been told of the exit. */
  readonly kill: (rank: number) => Effect.Effect<void>
  /** SIGTERM; the rank may ignore it (`ignoreTerminate`), so this does not wait. */
  readonly terminate: (rank: number) => Effect.Effect<void>
  /** SIGSTOP: the rank freezes mid-whatever, a real hang; only SIGCONT or SIGKILL end it. */
  readonly stop: (rank: number) => Effect.Effect<void>
  /** SIGCONT. */
  readonly resume: (rank: number) => Effect.Effect<void>
  readonly truth: () => Effect.Effect<ReadonlyArray<ProcessRankTruth>>
}

export interface FaultHandleOptions {
  /** Bound on one control request (inject, heal, truth) to one rank. */
  readonly controlTimeoutMs: number
  /** Bound on `kill` waiting for the exit to be observed. */
  readonly killTimeoutMs: number
}

export const makeProcessFaultHandle = (
  ranks: ReadonlyArray<RankProcess>,
  control: RankControl,
  options: FaultHandleOptions
): ProcessFaultHandle => {
  const worldSize = ranks.length
  const stopped = new Set<number>()
  const live = () => ranks.filter((rank) => rank.exit() === null)

  const inject = (spec: FaultSpec) =>
    Effect.suspend((): Effect.Effect<void, InjectError> => {
      const refused = checkProcessFault(spec as SimFaultSpec, worldSize)
      if (refused) return Effect.fail(refused)
      return Effect.flatMap(
        Effect.promise(() => control.request(spec.rank, { op: "inject", fault: stripUndefined(spec) }, options.controlTimeoutMs)),
        (answer) => answer?.ok === true ? Effect.void : Effect.fail(new FaultNotDelivered({
          rank: spec.rank,
          reason: answer === undefined ? `no answer within ${options.controlTimeoutMs} ms (exited or stopped)` : answer.ok ? "" : answer.reason
        }))
      )
    })

  // Stopped ranks are resumed first: a heal ends every fault this handle made, SIGSTOP included.
  const heal = () =>
    Effect.promise(async () => {
      for (const rank of stopped) ranks[rank].signal("SIGCONT")
      stopped.clear()
      await Promise.all(live().map((rank) => control.request(rank.rank, { op: "heal" }, options.controlTimeoutMs)))
    })

  const kill = (rank: number) =>
    Effect.promise(async () => {
      ranks[rank].signal("SIGKILL")
      await Promise.race([ranks[rank].exited, delay(options.killTimeoutMs)])
    })

  const signal = (rank: number, name: "SIGTERM" | "SIGSTOP" | "SIGCONT") =>
    Effect.sync(() => {
      if (name === "SIGSTOP") stopped.add(rank)
      if (name === "SIGCONT") stopped.delete(rank)
      ranks[rank].signal(name)
    })

  const truth = () =>
    Effect.promise(() => Promise.all(ranks.map(async (rank): Promise<ProcessRankTruth> => {
      const answer = rank.exit() === null && !stopped.has(rank.rank)
        ? await control.request(rank.rank, { op: "truth" }, options.controlTimeoutMs)
        : undefined
      return truthOf(rank, control, answer?.ok === true, rank.exit())
    })))

  return {
    inject,
    heal,
    kill,
    terminate: (rank) => signal(rank, "SIGTERM"),
    stop: (rank) => signal(rank, "SIGSTOP"),
    resume: (rank) => signal(rank, "SIGCONT"),
    truth
  }
}

const truthOf = (rank: RankProcess, control: RankControl, answered: boolean, exit: ExitInfo | null): ProcessRankTruth => {
  const state = control.lastState(rank.rank)
  return {
    rank: rank.rank,
    pid: rank.pid,
    alive: exit === null,
    asleep: state.asleep,
    sleepLevel: state.sleepLevel,
    loras: state.loras,
    loaded: state.loaded,
    usedBytes: state.usedBytes,
    exit,
    answered
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** JSON drops undefined fields anyway; dropping them here keeps the rank's strict decode happy. */
const stripUndefined = (spec: FaultSpec): SimFaultSpec =>
  Object.fromEntries(Object.entries(spec).filter(([, value]) => value !== undefined)) as unknown as SimFaultSpec

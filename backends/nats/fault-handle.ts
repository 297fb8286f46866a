/**
 * The test author's hand on a NATS cluster: call faults inside the ranks, network faults on
 * their links, real signals to local processes, and ground truth read from the ranks.
 *
 * Call faults (`inject`, `heal`) are the process backend's fault points, reached by a control
 * request over NATS. The network faults are this backend's own: `disconnect` makes a rank close
 * its connection for a while and reconnect, `delay` holds everything it sends. `kill` is SIGKILL
 * when this machine spawned the rank, else a kill request over NATS; either way it waits
 * (bounded) until the transport reports the rank gone. `stop`/`resume` (SIGSTOP/SIGCONT) exist
 * for local ranks only. `truth` asks each member rank; a rank that is gone or does not answer
 * is reported from what it last said, with `answered` telling which.
 */
import { Effect } from "effect"
import type { ExitInfo } from "../../core/control.ts"
import type { FaultHandle, FaultSpec, RankTruth } from "../harness.ts"
import { FaultNotDelivered, type InjectError } from "../process/fault-handle.ts"
import { checkProcessFault } from "../process/faults.ts"
import type { FaultSpec as SimFaultSpec } from "../sim/faults.ts"
import type { LocalRank } from "./launch.ts"
import type { NatsTransport } from "./transport.ts"

/** Ground truth of one rank over NATS. */
export interface NatsRankTruth extends RankTruth {
  readonly loaded: boolean
  readonly usedBytes: number
  /** False when the rank did not answer (gone, cut off): the state is what it last reported. */
  readonly answered: boolean
}

export interface NatsFaultHandle extends FaultHandle {
  readonly inject: (spec: FaultSpec) => Effect.Effect<void, InjectError>
  /** The rank closes its connection for `durationMs`, then reconnects. */
  readonly disconnect: (rank: number, durationMs: number) => Effect.Effect<void, FaultNotDelivered>
  /** Everything the rank sends is held `delayMs` (0 ends the fault). */
  readonly delay: (rank: number, delayMs: number) => Effect.Effect<void, FaultNotDelivered>
  /** A terminate request over NATS; an ignoreTerminate fault may refuse it. */
  readonly terminate: (rank: number) => Effect.Effect<void>
  readonly truth: () => Effect.Effect<ReadonlyArray<NatsRankTruth>>
}

export interface NatsFaultHandleOptions {
  readonly worldSize: number
  /** Bound on one control request to one rank. */
  readonly controlTimeoutMs: number
  /** Bound on `kill` waiting for the transport to report the rank gone. */
  readonly killTimeoutMs: number
}

export const makeNatsFaultHandle = (
  nats: NatsTransport,
  local: ReadonlyArray<LocalRank>,
  options: NatsFaultHandleOptions
): NatsFaultHandle => {
  const { worldSize, controlTimeoutMs } = options
  const localRank = (rank: number) => local.find((candidate) => candidate.rank === rank)
  const stopped = new Set<number>()

  const inject = (spec: FaultSpec) =>
    Effect.suspend((): Effect.Effect<void, InjectError> => {
      const refused = checkProcessFault(spec as SimFaultSpec, worldSize)
      if (refused) return Effect.fail(refused)
      return Effect.flatMap(
        Effect.promise(() => nats.control(spec.rank, { op: "inject", fault: stripUndefined(spec) }, controlTimeoutMs)),
        (answer) => answer?.ok === true ? Effect.void : Effect.fail(new FaultNotDelivered({
          rank: spec.rank,
          reason: answer === undefined ? `no answer within ${controlTimeoutMs} ms (gone or cut off)` : answer.ok ? "" : answer.reason
        }))
      )
    })

  const network = (rank: number, fault: Parameters<NatsTransport["network"]>[1]) =>
    Effect.flatMap(Effect.promise(() => nats.network(rank, fault, controlTimeoutMs)), (delivered) => delivered
      ? Effect.void
      : Effect.fail(new FaultNotDelivered({ rank, reason: `no answer within ${controlTimeoutMs} ms (gone or cut off)` })))

  // Heal reaches every rank that answers, stopped local ranks are resumed first, and delays end.
  const heal = () =>
    Effect.promise(async () => {
      for (const rank of stopped) localRank(rank)?.signal("SIGCONT")
      stopped.clear()
      await Promise.all(ranks(worldSize).map((rank) => nats.control(rank, { op: "heal" }, controlTimeoutMs)))
    })

  const kill = (rank: number) =>
    Effect.promise(async () => {
      const process = localRank(rank)
      if (process !== undefined) process.signal("SIGKILL")
      else await Effect.runPromise(nats.transport.signal(rank, "kill"))
      await nats.awaitGone(rank, options.killTimeoutMs)
    })

  const signalLocal = (rank: number, name: "SIGSTOP" | "SIGCONT") =>
    Effect.sync(() => {
      if (name === "SIGSTOP") stopped.add(rank)
      else stopped.delete(rank)
      localRank(rank)?.signal(name)
    })

  const truth = () =>
    Effect.promise(() => Promise.all(ranks(worldSize).map(async (rank): Promise<NatsRankTruth> => {
      const slot = nats.slot(rank)
      const answer = slot.state === "member" && !stopped.has(rank) ? await nats.control(rank, { op: "truth" }, controlTimeoutMs) : undefined
      const state = answer?.ok === true && answer.state !== undefined ? answer.state : nats.lastState(rank)
      const exit: ExitInfo | null = slot.state === "gone" ? slot.exit : null
      return {
        rank, alive: slot.state === "member", asleep: state.asleep, sleepLevel: state.sleepLevel, loras: state.loras,
        loaded: state.loaded, usedBytes: state.usedBytes, exit, answered: answer?.ok === true
      }
    })))

  const allLocal = local.length === worldSize
  return {
    inject,
    heal,
    kill,
    truth,
    disconnect: (rank, durationMs) => network(rank, { fault: "disconnect", durationMs }),
    delay: (rank, delayMs) => network(rank, { fault: "delay", delayMs }),
    terminate: (rank) => nats.transport.signal(rank, "terminate"),
    ...(allLocal ? { stop: (rank: number) => signalLocal(rank, "SIGSTOP"), resume: (rank: number) => signalLocal(rank, "SIGCONT") } : {})
  }
}

const ranks = (worldSize: number) => Array.from({ length: worldSize }, (_, rank) => rank)

/** JSON drops undefined fields anyway; dropping them here keeps the rank's strict decode happy. */
const stripUndefined = (spec: FaultSpec): SimFaultSpec =>
  Object.fromEntries(Object.entries(spec).filter(([, value]) => value !== undefined)) as unknown as SimFaultSpec

/**
 * The RankTransport contract: how the executor reaches its ranks.
 *
 * A backend provides one: in-memory ranks on virtual time (the simulator), child processes over
 * IPC, remote ranks over NATS. The executor sends one message per wave to the ranks it targets
 * and hears back through a single event handler: per-rank replies tagged with their wave id,
 * rank exits, and replies that could not be decoded. The transport never interprets replies;
 * matching them to waves, dropping stale ones and aggregating is the executor's job, done once
 * in `core/` for every backend.
 */
import { Context, Effect } from "effect"
import type { ExitInfo } from "./control.ts"
import type { WorkerError } from "./errors.ts"
import type { WorkerCall } from "./worker.ts"

/** One wave: a call broadcast to a set of ranks under one id. */
export interface WaveMessage {
  readonly waveId: number
  readonly call: WorkerCall
}

/** What one rank answered to one wave. */
export type ReplyResult =
  | { readonly _tag: "Ok"; readonly value: unknown }
  | { readonly _tag: "Failed"; readonly error: WorkerError }

export interface RankReply {
  readonly rank: number
  readonly waveId: number
  readonly result: ReplyResult
}

/**
 * Events from ranks. A rank's events arrive in the order it sent them. `Exited` is final for that
 * rank. `Malformed` is a reply the transport could not decode: counted, never delivered.
 */
export type TransportEvent =
  | { readonly _tag: "Reply"; readonly reply: RankReply }
  | { readonly _tag: "Exited"; readonly rank: number; readonly exit: ExitInfo }
  | { readonly _tag: "Malformed"; readonly rank: number; readonly reason: string }

/** How hard to stop a rank: `terminate` may be ignored by a rank (SIGTERM), `kill` may not. */
export type StopSignal = "terminate" | "kill"

export interface RankTransportShape {
  readonly worldSize: number
  /**
   * Hands `message` to each rank in `ranks` and answers the ranks it could not hand it to (they
   * have exited or are unreachable); those ranks will never reply to this wave.
   */
  readonly send: (message: WaveMessage, ranks: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<number>>
  /** Installs the one event handler. Events that arrive before it is installed are buffered. */
  readonly listen: (handler: (event: TransportEvent) => void) => Effect.Effect<void>
  /** Asks the platform to stop a rank. The rank's `Exited` event says whether it worked. */
  readonly signal: (rank: number, signal: StopSignal) => Effect.Effect<void>
}

/** The RankTransport service. */
export class RankTransport extends Context.Service<RankTransport, RankTransportShape>()("rankwise/RankTransport") {}

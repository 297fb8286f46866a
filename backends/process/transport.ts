/**
 * A RankTransport (core/transport.ts) over real IPC: one child process per rank.
 *
 * `send` writes the wave to each targeted rank's channel, one message per rank, and answers the
 * ranks it could not reach: exited, channel closed, or holding `mailboxCapacity` unanswered calls
 * already (a rank that stopped answering must not make its parent queue without bound). Replies
 * arrive tagged with their wave id, decoded by the rank process link (rank-process.ts); this
 * transport only turns them into events, in the order each rank sent them, with `Exited` last.
 * `signal` is a real SIGTERM or SIGKILL: whether it worked, the rank's `Exited` event says.
 */
import { assert } from "../../core/assert.ts"
import { Effect } from "effect"
import type { ExitInfo } from "../../core/control.ts"
import type { RankReply, RankTransportShape, StopSignal, WaveMessage } from "../../core/transport.ts"
import { makeEventOutlet } from "./event-outlet.ts"
import type { RankProcess } from "./rank-process.ts"

export interface ProcessTransport {
  readonly transport: RankTransportShape
  /** Hands the transport its ranks once they are started (index = rank). */
  readonly attach: (ranks: ReadonlyArray<RankProcess>) => void
  /** Where the rank links deliver. */
  readonly reply: (reply: RankReply) => void
  readonly malformed: (rank: number, reason: string) => void
  readonly exited: (rank: number, exit: ExitInfo) => void
  /** Events dropped because nobody listened and the buffer was full. */
  readonly droppedEvents: () => number
}

export const makeProcessTransport = (worldSize: number, mailboxCapacity: number): ProcessTransport => {
  assert(Number.isInteger(worldSize) && worldSize >= 1, "a transport reaches at least one rank")
  assert(Number.isInteger(mailboxCapacity) && mailboxCapacity >= 1, "a rank may hold at least one call")
  let ranks: ReadonlyArray<RankProcess> = []
  // Before anyone listens, ranks can only have exited or answered a few calls: this is generous.
  const outlet = makeEventOutlet(worldSize * (mailboxCapacity + 2))
  const emit = outlet.emit
  const unanswered = new Array<number>(worldSize).fill(0)
  const gone = new Array<boolean>(worldSize).fill(false)

  const send = (message: WaveMessage, targets: ReadonlyArray<number>) =>
    Effect.sync((): ReadonlyArray<number> => {
      assert(ranks.length === worldSize, "the ranks are started before the first wave")
      const unreachable: Array<number> = []
      for (const rank of targets) {
        assert(Number.isInteger(rank) && rank >= 0 && rank < worldSize, "a target rank exists")
        const sent = !gone[rank] && unanswered[rank] < mailboxCapacity &&
          ranks[rank].send({ t: "wave", waveId: message.waveId, call: message.call })
        if (sent) unanswered[rank]++
        else unreachable.push(rank)
      }
      return unreachable
    })

  const signal = (rank: number, stop: StopSignal) =>
    Effect.sync(() => {
      assert(Number.isInteger(rank) && rank >= 0 && rank < worldSize, "a signalled rank exists")
      ranks[rank]?.signal(stop === "terminate" ? "SIGTERM" : "SIGKILL")
    })

  return {
    transport: { worldSize, send, listen: outlet.listen, signal },
    attach: (started) => {
      assert(started.length === worldSize, "one process per rank")
      ranks = started
    },
    reply: (reply) => {
      if (gone[reply.rank]) return
      // A duplicated reply must not push the count below zero; the executor drops the duplicate.
      unanswered[reply.rank] = Math.max(0, unanswered[reply.rank] - 1)
      emit({ _tag: "Reply", reply })
    },
    malformed: (rank, reason) => {
      if (!gone[rank]) emit({ _tag: "Malformed", rank, reason })
    },
    exited: (rank, exit) => {
      if (gone[rank]) return
      gone[rank] = true
      emit({ _tag: "Exited", rank, exit })
    },
    droppedEvents: outlet.dropped
  }
}

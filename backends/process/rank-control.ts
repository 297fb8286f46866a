/**
 * Control requests to rank processes, outside the wave protocol: read a rank's ground truth,
 * inject a fault, heal. And the parent's memory of each rank's state.
 *
 * A control request carries its own id and is answered at once by the rank, even while the rank
 * is busy with a call (rank-host.ts), so a test can heal a hung rank or read its truth. Every
 * request is bounded: a rank that is stopped (SIGSTOP) or gone answers nothing, and the request
 * resolves `undefined` at its deadline, or at once when the rank exits.
 *
 * The memory: a rank sends its state after each call that changed it, and every truth answer
 * refreshes it. When a rank dies its memory goes with it, so what the parent remembers is the
 * best ground truth there is for a dead rank: what it held when it last spoke.
 */
import { assert } from "../../core/assert.ts"
import type { ControlAnswer, ControlOp, RankState } from "./protocol.ts"
import type { RankProcess } from "./rank-process.ts"

export interface RankControl {
  readonly attach: (ranks: ReadonlyArray<RankProcess>) => void
  /** Sends `op` to `rank`; resolves with its answer, or undefined if none came within `timeoutMs`. */
  readonly request: (rank: number, op: ControlOp, timeoutMs: number) => Promise<ControlAnswer | undefined>
  /** Where the rank links deliver control answers. */
  readonly answered: (rank: number, answer: ControlAnswer) => void
  readonly stateReported: (rank: number, state: RankState) => void
  /** The rank exited: its pending requests resolve now, unanswered. */
  readonly rankExited: (rank: number) => void
  /** The last state `rank` reported. */
  readonly lastState: (rank: number) => RankState
}

interface Pending {
  readonly rank: number
  readonly resolve: (answer: ControlAnswer | undefined) => void
  readonly timer: ReturnType<typeof setTimeout>
}

/** What a rank holds before it has said anything: nothing loaded. */
const unknownState: RankState = { loaded: false, asleep: false, sleepLevel: null, loras: [], usedBytes: 0 }

export const makeRankControl = (worldSize: number): RankControl => {
  let ranks: ReadonlyArray<RankProcess> = []
  const pending = new Map<number, Pending>()
  const states = new Array<RankState>(worldSize).fill(unknownState)
  let nextId = 1

  const settle = (id: number, answer: ControlAnswer | undefined) => {
    const entry = pending.get(id)
    if (entry === undefined) return
    pending.delete(id)
    clearTimeout(entry.timer)
    entry.resolve(answer)
  }

  const request = (rank: number, op: ControlOp, timeoutMs: number) =>
    new Promise<ControlAnswer | undefined>((resolve) => {
      assert(Number.isInteger(rank) && rank >= 0 && rank < ranks.length, "a control request goes to a started rank")
      assert(Number.isFinite(timeoutMs) && timeoutMs >= 0, "a control request has a finite deadline")
      const id = nextId++
      const timer = setTimeout(() => settle(id, undefined), timeoutMs)
      pending.set(id, { rank, resolve, timer })
      if (!ranks[rank].send({ t: "control", id, ...op })) settle(id, undefined)
    })

  return {
    attach: (started) => void (ranks = started),
    request,
    answered: (rank, answer) => {
      // An answer from another rank than the request went to is a rank's bug: ignore it.
      if (pending.get(answer.id)?.rank === rank) settle(answer.id, answer)
      if (answer.ok && answer.state !== undefined) states[rank] = answer.state
    },
    stateReported: (rank, state) => void (states[rank] = state),
    rankExited: (rank) => {
      for (const [id, entry] of [...pending]) if (entry.rank === rank) settle(id, undefined)
    },
    lastState: (rank) => states[rank]
  }
}

/**
 * What a rank sends, in the order it sent it, through the faults of a network: delay and
 * disconnection.
 *
 * Messages leave in FIFO order. With a delay fault each message is held `delayMs` after it was
 * sent (never overtaking an earlier one, so a shortened delay cannot reorder). While the link is
 * down (the disconnect fault) messages are held, as a client's reconnect buffer holds them, and
 * leave in order once the link is back; the hold is bounded (`heldMax`) and a message past it is
 * dropped and counted. A rank that exits drops what it had not sent: a dead process sends nothing.
 */
import { assert } from "../../core/assert.ts"

export interface Outbox {
  readonly send: (subject: string, data: Uint8Array) => void
  readonly setDelay: (delayMs: number) => void
  /** The link is down: hold everything until `resume`. */
  readonly hold: () => void
  readonly resume: () => void
  readonly dropPending: () => void
  readonly stats: () => { readonly pending: number; readonly dropped: number; readonly delayMs: number }
}

interface Pending {
  readonly subject: string
  readonly data: Uint8Array
  readonly dueMs: number
}

/** `publish` answers false when the message could not be handed to the client (closed link). */
export const makeOutbox = (publish: (subject: string, data: Uint8Array) => boolean, heldMax: number): Outbox => {
  assert(Number.isInteger(heldMax) && heldMax >= 1, "an outbox holds at least one message")
  const queue: Array<Pending> = []
  let delayMs = 0
  let holding = false
  let dropped = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  // Publishes every message that is due, in order; re-arms the timer for the next one.
  const pump = () => {
    timer = undefined
    const nowMs = performance.now()
    while (queue.length > 0 && !holding && queue[0].dueMs <= nowMs) {
      if (!publish(queue[0].subject, queue[0].data)) return hold()
      queue.shift()
    }
    if (queue.length > 0 && !holding) timer = setTimeout(pump, Math.max(0, queue[0].dueMs - nowMs))
  }

  const send = (subject: string, data: Uint8Array) => {
    const nowMs = performance.now()
    if (queue.length === 0 && delayMs === 0 && !holding && publish(subject, data)) return
    if (queue.length >= heldMax) return void dropped++
    queue.push({ subject, data, dueMs: Math.max(nowMs + delayMs, queue.at(-1)?.dueMs ?? 0) })
    if (timer === undefined && !holding) pump()
  }

  const hold = () => {
    holding = true
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }

  return {
    send,
    setDelay: (ms) => {
      assert(Number.isFinite(ms) && ms >= 0, "a delay is a finite number of milliseconds")
      delayMs = ms
    },
    hold,
    resume: () => {
      holding = false
      pump()
    },
    dropPending: () => {
      queue.length = 0
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
    },
    stats: () => ({ pending: queue.length, dropped, delayMs })
  }
}

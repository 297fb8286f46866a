/**
 * Where a wall-clock transport hands its events: the executor's one handler, or a bounded buffer
 * until that handler is installed (a rank can exit or answer before anyone listens).
 *
 * Shared by the process and NATS transports. `emit` is called from the runtime's callbacks
 * (IPC messages, NATS subscriptions, timers), never from inside `send` or `signal`, so the
 * executor's handler never runs re-entrantly. A throw there would crash the parent process, so
 * a full buffer drops (and counts) instead of asserting.
 */
import { Effect } from "effect"
import { assert } from "../../core/assert.ts"
import type { TransportEvent } from "../../core/transport.ts"

export interface EventOutlet {
  readonly emit: (event: TransportEvent) => void
  /** Installs the one handler and hands it what was buffered, in order. */
  readonly listen: (handler: (event: TransportEvent) => void) => Effect.Effect<void>
  /** Events dropped because nobody listened and the buffer was full. */
  readonly dropped: () => number
}

/** An outlet whose buffer holds at most `bufferedEventsMax` events. */
export const makeEventOutlet = (bufferedEventsMax: number): EventOutlet => {
  assert(Number.isInteger(bufferedEventsMax) && bufferedEventsMax >= 1, "an outlet buffers at least one event")
  let handler: ((event: TransportEvent) => void) | undefined
  const buffered: Array<TransportEvent> = []
  let dropped = 0
  return {
    emit: (event) => {
      if (handler !== undefined) return handler(event)
      if (buffered.length >= bufferedEventsMax) return void dropped++
      buffered.push(event)
    },
    listen: (next) =>
      Effect.sync(() => {
        assert(handler === undefined, "a transport has one listener")
        handler = next
        for (const event of buffered.splice(0)) next(event)
      }),
    dropped: () => dropped
  }
}

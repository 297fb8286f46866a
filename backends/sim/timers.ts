/**
 * Timers on the simulated clock, as plain callbacks: how the network delivers a delayed message.
 *
 * A message in flight needs to run one function at its delivery time. Without this service a
 * link forks a fiber that sleeps on the Clock for each message (any Clock works, TestClock
 * included); a world (simulator/world.ts) provides it, and a delivery is then one event on the
 * world's own queue: no fiber, no suspension, and still one seeded order (same-instant events
 * follow the seed's tie-break). Measured: about 15% more simulated collectives per second over a
 * delaying network (bench/simulator.bench.ts).
 */
import { Context, Effect, Option, type Scope } from "effect"

export interface SimTimersShape {
  /** Runs `callback` when virtual time reaches `atMs` (not before now); answers its cancel. */
  readonly at: (atMs: number, callback: () => void) => () => void
}

/** Virtual-time callbacks; provided by a world, absent elsewhere. */
export class SimTimers extends Context.Service<SimTimers, SimTimersShape>()("rankwise/SimTimers") {}

/**
 * The world's timers, if it provides them, bound to the current scope: a timer still pending when
 * the scope closes is cancelled, as the forked fibers it replaces would be interrupted.
 */
export const scopedSimTimers: Effect.Effect<SimTimersShape | undefined, never, Scope.Scope> = Effect.gen(function* () {
  const provided = yield* Effect.serviceOption(SimTimers)
  if (Option.isNone(provided)) return undefined
  const pending = new Set<() => void>()
  yield* Effect.addFinalizer(() => Effect.sync(() => {
    for (const cancel of pending) cancel()
    pending.clear()
  }))
  return {
    at: (atMs, callback) => {
      const cancel = provided.value.at(atMs, () => {
        pending.delete(cancel)
        callback()
      })
      pending.add(cancel)
      return () => {
        pending.delete(cancel)
        cancel()
      }
    }
  }
})

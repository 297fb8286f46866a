/**
 * One link of the simulated network: the messages in flight in one direction between the
 * executor and one rank, and their delivery on virtual time.
 *
 * A message on a quiet link (no delay, no loss, nothing in flight, not clogged) is delivered at
 * once by the sender's own fiber; this saves a scheduler hop, which matters under TestClock (an
 * `adjust` waits only for work that a clock wake started). Any other message is planned by
 * network.ts, kept in the link's `pending` list with its delivery time, and a timer per copy
 * wakes at that time and flushes the link: a world's timer callback (timers.ts) when the cluster
 * runs in one, else a fiber that sleeps on the Clock. A flush delivers every due message in order
 * of (delivery time, send order), re-reading the link after each delivery: a delivery may resume
 * fibers inline (completing a Deferred wakes its waiter at once), and they may send on this link.
 *
 * A clogged link holds its due messages (each counted once at `net.clog.held`) until unclogged.
 * A `final` message is a process exit: the platform reports it, not the network, so it is never
 * held, dropped or duplicated. It arrives after every in-order message sent before it, and once
 * it is delivered the link is closed: whatever it still holds is discarded, so nothing of a rank
 * ever follows its exit.
 */
import { Duration, Effect, type Scope } from "effect"
import { assert } from "../../core/assert.ts"
import type { Prng } from "../../core/random.ts"
import type { FaultPoints, FaultPointSite } from "./fault-points.ts"
import type { SimTimersShape } from "./timers.ts"
import {
  type Direction, isQuietConfig, minimumDelayMs, planTransmission, type ResolvedLinkConfig
} from "./network.ts"

/** A bound on messages in flight on one link; more means a sender floods the network (a bug). */
export const linkMessagesMax = 4096

/** What links need from the cluster: its clock, the `network` stream, the counters, a scope. */
export interface LinkEnv {
  readonly nowMs: () => number
  readonly random: Prng
  readonly points: FaultPoints
  /** Where timer fibers are forked: they live as long as the cluster. */
  readonly scope: Scope.Scope
  /** Virtual-time callbacks, when a world provides them; timer fibers otherwise. */
  readonly timers: SimTimersShape | undefined
}

interface InFlight<P> {
  readonly seq: number
  readonly deliverAtMs: number
  readonly inOrder: boolean
  readonly final: boolean
  readonly payload: P
  readonly site: FaultPointSite
  /** Whether this message was found clogged (counted once). */
  held: boolean
}

export interface Link<P> {
  readonly rank: number
  readonly direction: Direction
  config: ResolvedLinkConfig
  clogged: boolean
  readonly pending: Array<InFlight<P>>
  /** When the last in-order message arrives; a later in-order message never arrives before it. */
  lastInOrderAtMs: number
  nextSeq: number
  /** True once a final message was delivered. */
  closed: boolean
  /** A method, not a property, so that any `Link<P>` is a `Link<unknown>` for code that only moves messages. */
  deliver(payload: P): void
}

export const makeLink = <P>(
  rank: number,
  direction: Direction,
  config: ResolvedLinkConfig,
  deliver: (payload: P) => void
): Link<P> => ({
  rank, direction, config, clogged: false, pending: [], lastInOrderAtMs: Number.NEGATIVE_INFINITY, nextSeq: 0,
  closed: false, deliver
})

/** Whether a message sent now would arrive now, in order: the link is quiet and empty. */
export const canDeliverNow = (link: Link<unknown>): boolean =>
  !link.closed && !link.clogged && link.pending.length === 0 && isQuietConfig(link.config)

/** Sends one message: at once on a quiet link, else through the network's plan. */
export const send = <P>(env: LinkEnv, link: Link<P>, payload: P, site: FaultPointSite): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!canDeliverNow(link)) return transmit(env, link, payload, site)
    link.deliver(payload)
    return Effect.void
  })

/** Plans one message (drop, duplicate, delay, reorder), counts what the network did, and queues its copies. */
export const transmit = <P>(env: LinkEnv, link: Link<P>, payload: P, site: FaultPointSite): Effect.Effect<void> =>
  Effect.suspend(() => {
    const nowMs = env.nowMs()
    const plan = planTransmission(link.config, env.random, nowMs, link.lastInOrderAtMs)
    if (plan.dropped) env.points.fire(`net.${link.direction}.drop`, site)
    if (plan.duplicated) env.points.fire(`net.${link.direction}.duplicate`, site)
    for (let copy = 0; copy < plan.reorderedCopies; copy++) env.points.fire("net.reorder", { ...site, detail: link.direction })
    return Effect.forEach(plan.copies, (copy) => {
      if (copy.inOrder) link.lastInOrderAtMs = Math.max(link.lastInOrderAtMs, copy.deliverAtMs)
      return enqueue(env, link, { deliverAtMs: copy.deliverAtMs, inOrder: copy.inOrder, final: false, payload, site })
    }, { discard: true })
  })

/**
 * Sends a process exit. It travels at the link's shortest delay but after every in-order message
 * already sent (an exit never overtakes what the rank wrote before it died), and ignores clogs.
 */
export const sendFinal = <P>(env: LinkEnv, link: Link<P>, payload: P, site: FaultPointSite): Effect.Effect<void> =>
  Effect.suspend(() => {
    assert(!link.closed && !link.pending.some((message) => message.final), "a link carries one final message")
    const deliverAtMs = Math.max(env.nowMs() + minimumDelayMs(link.config.delayMs), link.lastInOrderAtMs)
    return enqueue(env, link, { deliverAtMs, inOrder: true, final: true, payload, site })
  })

const enqueue = <P>(env: LinkEnv, link: Link<P>, message: Omit<InFlight<P>, "seq" | "held">): Effect.Effect<void> =>
  Effect.suspend(() => {
    // Every simulated message passes here: its record is built without a spread (measured).
    assert(link.pending.length < linkMessagesMax, () => `a link holds at most ${linkMessagesMax} messages in flight`)
    link.pending.push({
      seq: link.nextSeq++, deliverAtMs: message.deliverAtMs, inOrder: message.inOrder, final: message.final,
      payload: message.payload, site: message.site, held: false
    })
    // A message due now goes out from a fiber, as a ready task: a world's timer at the current
    // instant would wait for the next advance of time, which draining ready work never does.
    if (env.timers === undefined || message.deliverAtMs <= env.nowMs()) {
      return Effect.asVoid(Effect.forkIn(flushAt(env, link, message.deliverAtMs), env.scope))
    }
    env.timers.at(message.deliverAtMs, () => flush(env, link, message.deliverAtMs))
    return Effect.void
  })

/**
 * A timer fiber: waits until `deliverAtMs`, then flushes what is due by then. The timer's own
 * time counts as now: a clock may report whole milliseconds (TestClock), and a message due at
 * 2.4 ms must not wait for a later timer when its own fired.
 */
const flushAt = <P>(env: LinkEnv, link: Link<P>, deliverAtMs: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    const waitMs = deliverAtMs - env.nowMs()
    const flushNow = Effect.sync(() => flush(env, link, deliverAtMs))
    return waitMs > 0 ? Effect.andThen(Effect.sleep(Duration.millis(waitMs)), flushNow) : flushNow
  })

/**
 * Delivers, in order, every message due by `dueAtMs` (or now, if later) that the link may
 * deliver; see the file header.
 */
export const flush = <P>(env: LinkEnv, link: Link<P>, dueAtMs = Number.NEGATIVE_INFINITY): void => {
  for (let delivered = 0; ; delivered++) {
    assert(delivered <= linkMessagesMax * 2, "a flush ends: deliveries cannot refill a link without end")
    const next = nextDue(env, link, Math.max(dueAtMs, env.nowMs()))
    if (next === undefined) return
    link.pending.splice(link.pending.indexOf(next), 1)
    if (next.final) closeLink(env, link)
    link.deliver(next.payload)
  }
}

/** The earliest due message that may go now; due messages of a clogged link are counted as held. */
const nextDue = <P>(env: LinkEnv, link: Link<P>, dueAtMs: number): InFlight<P> | undefined => {
  let next: InFlight<P> | undefined
  for (const message of link.pending) {
    if (message.deliverAtMs > dueAtMs) continue
    if (link.clogged && !message.final) {
      if (!message.held) env.points.fire("net.clog.held", { ...message.site, detail: link.direction })
      message.held = true
      continue
    }
    if (next === undefined || message.deliverAtMs < next.deliverAtMs || (message.deliverAtMs === next.deliverAtMs && message.seq < next.seq)) {
      next = message
    }
  }
  return next
}

/** The final message is going out: nothing still in flight may follow it. */
const closeLink = <P>(env: LinkEnv, link: Link<P>): void => {
  link.closed = true
  for (const message of link.pending.splice(0)) env.points.fire(`net.${link.direction}.afterExit`, message.site)
}

/** Holds the link's messages until `unclog`. */
export const clog = (link: Link<unknown>): void => {
  link.clogged = true
}

/**
 * Releases the link. Its held messages go out in order from a fiber of the cluster, never inside
 * the caller's own call, as a healed partition delivers asynchronously.
 */
export const unclog = <P>(env: LinkEnv, link: Link<P>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!link.clogged) return Effect.void
    link.clogged = false
    return Effect.asVoid(Effect.forkIn(Effect.sync(() => flush(env, link)), env.scope))
  })

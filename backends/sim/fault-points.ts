/**
 * Named fault points and the observer hook of the simulated cluster.
 *
 * Every place where a fault or a network effect can fire has a stable name (`call.hang`,
 * `net.reply.drop`, ...). Firing a point counts it by (point, rank, method) and tells the
 * observer, so a report can say how often each fault really fired (a swarm run that never fired
 * its faults proved nothing) and a trace can show where. The observer also hears what each rank
 * host does (`received`, `replied`, `exited`); these events carry virtual time and data only,
 * never fiber ids or wall time, so the same seed gives the same event sequence.
 */
import { assert } from "../../core/assert.ts"
import type { WorkerMethod } from "../../core/worker.ts"
import type { FaultKind } from "./faults.ts"

export const faultPointNames = [
  "call.throw", "call.hang", "call.slow", "call.crashBeforeApply", "call.crashAfterApply", "call.dropReply",
  "call.duplicateReply", "wake.oom", "shutdown.crash", "signal.ignoreTerminate", "signal.unkillable",
  "net.request.drop", "net.request.duplicate", "net.reply.drop", "net.reply.duplicate", "net.reorder", "net.clog.held",
  // A request that reached a rank after it exited, or found its mailbox full; a reply the network
  // still held when the rank's exit was reported (it may never follow the exit).
  "net.request.afterExit", "net.request.overflow", "net.reply.afterExit",
  // The rank host saw a wave id it already received, or one older than the newest it accepted
  // (a reordered request), and ignored it: at-most-once, in-order execution.
  "rank.duplicateRequest", "rank.staleRequest"
] as const
export type FaultPoint = (typeof faultPointNames)[number]

/** The point each fault kind fires. */
export const faultPointOfKind: Readonly<Record<FaultKind, FaultPoint>> = {
  throw: "call.throw",
  hang: "call.hang",
  slow: "call.slow",
  crashBeforeApply: "call.crashBeforeApply",
  crashAfterApply: "call.crashAfterApply",
  dropReply: "call.dropReply",
  duplicateReply: "call.duplicateReply",
  oomOnWake: "wake.oom",
  crashDuringShutdown: "shutdown.crash",
  ignoreTerminate: "signal.ignoreTerminate",
  unkillable: "signal.unkillable"
}

/** One thing a simulated rank (or its link) did, at a virtual time. */
export interface SimEvent {
  readonly atMs: number
  readonly rank: number
  readonly kind: "received" | "replied" | "fault" | "exited"
  readonly method?: WorkerMethod | undefined
  readonly waveId?: number | undefined
  /** The fault point, for `fault` events. */
  readonly point?: FaultPoint | undefined
  readonly detail?: string | undefined
}

/** How many times one point fired for one (rank, method); `method` is null when none applies. */
export interface FaultPointCount {
  readonly point: FaultPoint
  readonly rank: number
  readonly method: WorkerMethod | null
  readonly fired: number
}

/** What fired where: the call (or signal) it fired on. */
export interface FaultPointSite {
  readonly rank: number
  readonly method?: WorkerMethod | undefined
  readonly waveId?: number | undefined
  readonly detail?: string | undefined
}

export interface FaultPoints {
  /** Counts one firing of `point` and tells the observer. */
  readonly fire: (point: FaultPoint, site: FaultPointSite) => void
  /** Tells the observer what a rank host did; nothing is counted. */
  readonly observe: (kind: "received" | "replied" | "exited", site: FaultPointSite) => void
  /** Every point that fired, ordered by point name, then rank, then method. */
  readonly counts: () => ReadonlyArray<FaultPointCount>
}

/** Builds the counters; `nowMs` reads the cluster's virtual clock. */
export const makeFaultPoints = (nowMs: () => number, observer?: ((event: SimEvent) => void) | undefined): FaultPoints => {
  const fired = new Map<string, FaultPointCount>()

  const tell = (kind: SimEvent["kind"], site: FaultPointSite, point?: FaultPoint) => {
    if (observer === undefined) return
    observer(withoutUndefined({ atMs: nowMs(), rank: site.rank, kind, method: site.method, waveId: site.waveId, point, detail: site.detail }))
  }

  const fire = (point: FaultPoint, site: FaultPointSite) => {
    assert(Number.isInteger(site.rank) && site.rank >= 0, "a fault point fires on a rank")
    const method = site.method ?? null
    const key = `${point}|${site.rank}|${method ?? ""}`
    fired.set(key, { point, rank: site.rank, method, fired: (fired.get(key)?.fired ?? 0) + 1 })
    tell("fault", site, point)
  }

  const counts = () =>
    [...fired.values()].sort((a, b) =>
      a.point.localeCompare(b.point) || a.rank - b.rank || (a.method ?? "").localeCompare(b.method ?? ""))

  return { fire, observe: (kind, site) => tell(kind, site), counts }
}

// Absent fields stay absent, so events compare equal whether built here or written in a test.
const withoutUndefined = (event: SimEvent): SimEvent =>
  Object.fromEntries(Object.entries(event).filter(([, value]) => value !== undefined)) as unknown as SimEvent

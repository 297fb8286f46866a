/**
 * Who the engine counts as a rank, over a network: joins, heartbeats, silence, fencing.
 *
 * A rank process is known by its incarnation, a number it picks anew whenever it joins. While
 * the engine hears from a member (any message counts as a heartbeat), it is alive; once it has
 * been silent for `silenceMaxMs` it is declared dead ("heartbeat lost") and its incarnation is
 * fenced: whatever it says later (it was only cut off, or slow) is rejected and counted, never
 * delivered, because the executor has already treated its calls as indefinite and a rank's exit
 * is final. A fenced process learns so from a notice and rejoins with a new incarnation and a
 * fresh worker; this session then keeps it on standby (it never gets waves here, its rank is dead
 * for this executor), and a later session can use it. If the engine asked to kill a rank it could
 * not reach, the rank is told to exit when it comes back, so a kill converges even across a
 * partition.
 *
 * Pure bookkeeping: time comes in as `nowMs`, effects (events, notices) are the caller's.
 */
import { assert } from "../../core/assert.ts"
import type { ExitInfo } from "../../core/control.ts"
import type { StopSignal } from "../../core/transport.ts"
import type { JoinAnswer, JoinRequest } from "./protocol.ts"

export type Slot =
  | { readonly state: "absent" }
  | {
    readonly state: "member"
    readonly incarnation: number
    readonly pid: number
    readonly host: string
    lastHeardMs: number
    /** The rank has spoken in this session since its join: it has the answer and serves waves. */
    confirmed: boolean
  }
  | {
    readonly state: "gone"
    readonly incarnation: number
    readonly pid: number
    readonly host: string
    readonly exit: ExitInfo
    /** A later incarnation that rejoined after the death: alive, but never sent waves here. */
    standby: number | undefined
  }

/** What a message from `(rank, incarnation)` means. */
export type Heard =
  | { readonly _tag: "Member" }
  | { readonly _tag: "Standby" }
  /** A dead incarnation speaking: reject; tell it `notice`. */
  | { readonly _tag: "Fenced"; readonly notice: "rejoin" | "kill" }
  /** An incarnation this session never accepted (another session's, or not yet joined). */
  | { readonly _tag: "Stranger" }

export interface JoinOutcome {
  readonly answer: Omit<Extract<JoinAnswer, { readonly t: "joined" }>, "session" | "worldSize" | "heartbeatEveryMs" | "silenceMaxMs"> | Extract<JoinAnswer, { readonly t: "refused" }>
  /** A member replaced by a new incarnation of the same rank after the join phase: it died. */
  readonly died?: ExitInfo | undefined
}

export interface Membership {
  readonly worldSize: number
  readonly slot: (rank: number) => Slot
  readonly isMember: (rank: number) => boolean
  readonly join: (request: JoinRequest, nowMs: number) => JoinOutcome
  readonly heard: (rank: number, incarnation: number, nowMs: number) => Heard
  /** The member announced its own exit; true when that ended a membership. */
  readonly exited: (rank: number, incarnation: number, exit: ExitInfo) => boolean
  /** Declares silent members dead; answers the ranks that died now. */
  readonly sweepSilent: (nowMs: number) => ReadonlyArray<number>
  /** Remembers a stop request: a fenced rank that comes back after a kill is told to exit. */
  readonly stopRequested: (rank: number, signal: StopSignal) => void
  /** Ends the join phase: from now a rank's new incarnation means the old one died. */
  readonly seal: () => void
  /**
   * Members that have spoken since their join. A join is complete only then: the answer and the
   * first wave travel on different subscriptions, and a rank that has not yet read its answer
   * would drop a wave that overtook it.
   */
  readonly confirmedCount: () => number
}

export const heartbeatLost: ExitInfo = { code: null, signal: null, reason: "heartbeat lost" }

export const makeMembership = (worldSize: number, silenceMaxMs: number): Membership => {
  assert(Number.isInteger(worldSize) && worldSize >= 1, "a membership has at least one rank")
  assert(Number.isFinite(silenceMaxMs) && silenceMaxMs > 0, "silence has a finite bound")
  const slots: Array<Slot> = Array.from({ length: worldSize }, () => ({ state: "absent" }))
  const killRequested = new Set<number>()
  let sealed = false

  const inWorld = (rank: number) => Number.isInteger(rank) && rank >= 0 && rank < worldSize

  const join = (request: JoinRequest, nowMs: number): JoinOutcome => {
    const { rank, incarnation } = request
    if (!inWorld(rank)) return refuse(`rank ${rank} is outside this cluster of ${worldSize} ranks`)
    if (request.worldSize !== null && request.worldSize !== worldSize) {
      return refuse(`the rank was started for a world of ${request.worldSize}, this cluster has ${worldSize}`)
    }
    const slot = slots[rank]
    const member = () => {
      const confirmed = slot.state === "member" && slot.incarnation === incarnation && slot.confirmed
      slots[rank] = { state: "member", incarnation, pid: request.pid, host: request.host, lastHeardMs: nowMs, confirmed }
      return { answer: { t: "joined" as const, standby: false } }
    }
    switch (slot.state) {
      case "absent":
        return member()
      case "member":
        // The same incarnation again: its earlier answer was lost; joining is idempotent.
        if (slot.incarnation === incarnation) return member()
        // Before the cluster is in use, a restarted rank simply takes its place.
        if (!sealed) return member()
        slots[rank] = { ...slot, state: "gone", exit: replacedBy(incarnation), standby: incarnation }
        return { answer: { t: "joined", standby: true }, died: replacedBy(incarnation) }
      case "gone":
        if (incarnation === slot.incarnation) return refuse("this incarnation was declared dead: rejoin with a new incarnation", killRequested.has(rank))
        if (killRequested.has(rank)) return refuse(`rank ${rank} was killed in this session`, true)
        slot.standby = incarnation
        return { answer: { t: "joined", standby: true } }
    }
  }

  const heard = (rank: number, incarnation: number, nowMs: number): Heard => {
    const slot = slots[rank]
    if (slot.state === "member" && slot.incarnation === incarnation) {
      slot.lastHeardMs = nowMs
      slot.confirmed = true
      return { _tag: "Member" }
    }
    if (slot.state === "gone" && slot.standby === incarnation) return { _tag: "Standby" }
    if (slot.state === "gone" && slot.incarnation === incarnation) return { _tag: "Fenced", notice: killRequested.has(rank) ? "kill" : "rejoin" }
    return { _tag: "Stranger" }
  }

  const exited = (rank: number, incarnation: number, exit: ExitInfo): boolean => {
    const slot = slots[rank]
    if (slot.state === "gone" && slot.standby === incarnation) slot.standby = undefined
    if (slot.state !== "member" || slot.incarnation !== incarnation) return false
    slots[rank] = { ...slot, state: "gone", exit, standby: undefined }
    return true
  }

  const sweepSilent = (nowMs: number): ReadonlyArray<number> => {
    const died: Array<number> = []
    for (let rank = 0; rank < worldSize; rank++) {
      const slot = slots[rank]
      if (slot.state !== "member" || nowMs - slot.lastHeardMs <= silenceMaxMs) continue
      slots[rank] = { ...slot, state: "gone", exit: heartbeatLost, standby: undefined }
      died.push(rank)
    }
    return died
  }

  return {
    worldSize,
    slot: (rank) => slots[rank],
    isMember: (rank) => slots[rank].state === "member",
    join,
    heard,
    exited,
    sweepSilent,
    stopRequested: (rank, signal) => {
      assert(inWorld(rank), "a stopped rank exists")
      if (signal === "kill") killRequested.add(rank)
    },
    seal: () => void (sealed = true),
    confirmedCount: () => slots.filter((slot) => slot.state === "member" && slot.confirmed).length
  }
}

const refuse = (reason: string, exit = false): JoinOutcome => ({ answer: { t: "refused", reason, exit } })

const replacedBy = (incarnation: number): ExitInfo => ({ code: null, signal: null, reason: `restarted as incarnation ${incarnation}` })

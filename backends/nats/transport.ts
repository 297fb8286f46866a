/**
 * A RankTransport (core/transport.ts) over a NATS server: ranks anywhere the server reaches.
 *
 * `send` publishes a wave once on the cluster's wave subject, naming the ranks it targets; every
 * rank hears it and serves it only if named (one publish per wave, however many ranks). Replies
 * come back on per-rank subjects inside an envelope naming the rank's incarnation, and become
 * events in the order each rank sent them. There is no process to watch across a network, so
 * a rank's death is learnt three ways: its exit note (it ended on purpose, or crashed in a way it
 * could report), its silence past `silenceMaxMs` ("heartbeat lost"), or, when this process
 * spawned the rank, the local exit of that process (`processExited`). Once a rank is reported
 * `Exited` its incarnation is fenced (membership.ts): what it says later is rejected and counted.
 *
 * `signal` publishes a stop request to the rank; whether it worked, the rank's `Exited` event
 * says. A rank that cannot be reached is declared dead by the silence bound anyway, and one that
 * comes back after a kill is told to exit.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import type { NatsConnection, Subscription } from "nats"
import { assert } from "../../core/assert.ts"
import type { ExitInfo } from "../../core/control.ts"
import type { RankTransportShape, StopSignal, WaveMessage } from "../../core/transport.ts"
import { makeEventOutlet } from "../process/event-outlet.ts"
import type { ControlAnswer, RankState } from "../process/protocol.ts"
import { makeMembership, type Slot } from "./membership.ts"
import {
  decodeControlAnswer, decodeEnvelope, decodeJoinRequest, encodeMessage, type EngineToRank, type JoinAnswer,
  type NatsRankMessage, type NetworkFault, type ProcessControlOp, rankOfReplySubject, subjectsOf, type WaveBroadcast
} from "./protocol.ts"

export interface NatsTransportOptions {
  readonly cluster: string
  readonly worldSize: number
  readonly heartbeatEveryMs: number
  readonly silenceMaxMs: number
  /** Unanswered waves a rank may hold before `send` answers it as unreachable. */
  readonly mailboxCapacity: number
}

export interface NatsTransportStats {
  /** Messages from a fenced or unknown incarnation, rejected. */
  readonly fencedMessages: number
  /** Of those, replies to waves: the ones that would have been wrong to deliver. */
  readonly fencedReplies: number
  readonly malformedDropped: number
  readonly noticesSent: number
  readonly droppedEvents: number
}

export interface NatsTransport {
  readonly transport: RankTransportShape
  readonly session: string
  readonly slot: (rank: number) => Slot
  /** Waits until every rank has joined and spoken since; answers the ranks still missing at `timeoutMs`. */
  readonly awaitJoins: (timeoutMs: number) => Promise<ReadonlyArray<number>>
  /** Ends the join phase (see membership.ts). */
  readonly seal: () => void
  /** A control request to one rank; undefined when it did not answer within `timeoutMs`. */
  readonly control: (rank: number, op: ProcessControlOp, timeoutMs: number) => Promise<ControlAnswer | undefined>
  readonly network: (rank: number, fault: NetworkFault, timeoutMs: number) => Promise<boolean>
  /** The process hosting `rank` (by pid) ended, as seen by the process that spawned it. */
  readonly processExited: (rank: number, pid: number, exit: ExitInfo) => void
  /** Resolves when `rank` is reported gone, or false at `timeoutMs`. */
  readonly awaitGone: (rank: number, timeoutMs: number) => Promise<boolean>
  readonly lastState: (rank: number) => RankState
  readonly stats: () => NatsTransportStats
  /** Stops heartbeats and subscriptions; the connection stays its owner's. */
  readonly close: () => Promise<void>
}

const unknownState: RankState = { loaded: false, asleep: false, sleepLevel: null, loras: [], usedBytes: 0 }
/** Replies from a local exit may still be in flight on the server: report the exit after this. */
const localExitDrainMs = 200

export const makeNatsTransport = (connection: NatsConnection, options: NatsTransportOptions): NatsTransport => {
  const { worldSize, heartbeatEveryMs, silenceMaxMs } = options
  assert(heartbeatEveryMs > 0 && silenceMaxMs >= 2 * heartbeatEveryMs, "silence lasts at least two heartbeats")
  const session = randomUUID()
  const subjects = subjectsOf(options.cluster)
  const membership = makeMembership(worldSize, silenceMaxMs)
  const lastStates = new Array<RankState>(worldSize).fill(unknownState)
  const unanswered = new Array<number>(worldSize).fill(0)
  const goneWaiters = new Map<number, Array<() => void>>()
  const lastNoticeMs = new Array<number>(worldSize).fill(-Infinity)
  const counters = { fencedMessages: 0, fencedReplies: 0, malformedDropped: 0, noticesSent: 0 }
  // Called from NATS callbacks and timers (event-outlet.ts): a full buffer drops and counts.
  const outlet = makeEventOutlet(worldSize * (options.mailboxCapacity + 2))
  const emit = outlet.emit
  let nextControlId = 1
  let closed = false

  const rankGone = (rank: number, exit: ExitInfo) => {
    emit({ _tag: "Exited", rank, exit })
    for (const wake of goneWaiters.get(rank)?.splice(0) ?? []) wake()
  }

  const publish = (subject: string, message: unknown): boolean => {
    if (closed || connection.isClosed()) return false
    try {
      connection.publish(subject, encodeMessage(message))
      return true
    } catch {
      return false // the connection closed under us: the caller treats the rank as unreachable
    }
  }

  // At most one notice per rank per heartbeat period: a fenced rank heartbeats, and each of its
  // beats must not cost a notice.
  const notify = (rank: number, notice: "rejoin" | "kill", reason: string) => {
    const nowMs = performance.now()
    if (nowMs - lastNoticeMs[rank] < heartbeatEveryMs) return
    lastNoticeMs[rank] = nowMs
    counters.noticesSent++
    publish(subjects.control(rank), { t: "notice", session, notice, reason } satisfies EngineToRank)
  }

  const onMemberMessage = (rank: number, incarnation: number, message: NatsRankMessage) => {
    switch (message.t) {
      case "hb": return
      case "reply":
        unanswered[rank] = Math.max(0, unanswered[rank] - 1)
        return emit({ _tag: "Reply", reply: { rank, waveId: message.waveId, result: message.result } })
      case "state": return void (lastStates[rank] = message.state)
      case "refused": return emit({ _tag: "Malformed", rank, reason: `rank ${rank} refused a message: ${message.reason}` })
      case "exit":
        if (membership.exited(rank, incarnation, { code: message.code, signal: message.signal, reason: message.reason })) {
          rankGone(rank, { code: message.code, signal: message.signal, reason: message.reason })
        }
    }
  }

  const onRankMessage = (subject: string, data: Uint8Array) => {
    const subjectRank = rankOfReplySubject(subject)
    const decoded = decodeEnvelope(data)
    const attributable = subjectRank !== undefined && subjectRank < worldSize && membership.isMember(subjectRank)
    if (decoded._tag === "Failure" || decoded.success.rank !== subjectRank) {
      const reason = decoded._tag === "Failure" ? decoded.failure : `a message for rank ${decoded.success.rank} on rank ${subjectRank}'s subject`
      return attributable ? emit({ _tag: "Malformed", rank: subjectRank, reason }) : void counters.malformedDropped++
    }
    const { rank, incarnation, message } = decoded.success
    if (rank >= worldSize) return void counters.malformedDropped++
    const heard = decoded.success.session === session ? membership.heard(rank, incarnation, performance.now()) : { _tag: "Stranger" as const }
    if (heard._tag === "Member") return onMemberMessage(rank, incarnation, message)
    if (heard._tag === "Standby") return message.t === "exit" ? void membership.exited(rank, incarnation, message) : undefined
    counters.fencedMessages++
    if (message.t === "reply") counters.fencedReplies++
    if (message.t === "exit") return
    if (heard._tag === "Fenced") return notify(rank, heard.notice, "this incarnation was declared dead")
    notify(rank, "rejoin", "this engine session does not know this incarnation")
  }

  const onJoin = (data: Uint8Array, respond: (answer: JoinAnswer) => void) => {
    const decoded = decodeJoinRequest(data)
    if (decoded._tag === "Failure") return respond({ t: "refused", reason: decoded.failure, exit: false })
    const outcome = membership.join(decoded.success, performance.now())
    if (outcome.died) rankGone(decoded.success.rank, outcome.died)
    respond(outcome.answer.t === "joined" ? { ...outcome.answer, session, worldSize, heartbeatEveryMs, silenceMaxMs } : outcome.answer)
  }

  const subscriptions: Array<Subscription> = [
    connection.subscribe(subjects.replies, { callback: (error, message) => error === null && onRankMessage(message.subject, message.data) }),
    connection.subscribe(subjects.join, {
      callback: (error, message) => error === null && onJoin(message.data, (answer) => void message.respond(encodeMessage(answer)))
    })
  ]

  // The engine's heartbeat, and the silence sweep. The sweep runs after the event loop's next
  // I/O phase (`setImmediate`), never straight from the timer: if this process stalled (a long
  // synchronous stretch, a loaded machine), the ranks' heartbeats are still queued on the socket,
  // and they must be read before anyone is declared dead for our own pause.
  const tick = () => {
    publish(subjects.engine, { t: "engine", session, silenceMaxMs })
    setImmediate(sweep)
  }
  const sweep = () => {
    if (closed) return
    for (const rank of membership.sweepSilent(performance.now())) rankGone(rank, (membership.slot(rank) as Extract<Slot, { state: "gone" }>).exit)
  }
  const ticker = setInterval(tick, heartbeatEveryMs)

  const send = (message: WaveMessage, targets: ReadonlyArray<number>) =>
    Effect.sync((): ReadonlyArray<number> => {
      const reachable = targets.filter((rank) => membership.isMember(rank) && unanswered[rank] < options.mailboxCapacity)
      const sent = reachable.length > 0 &&
        publish(subjects.wave, { t: "wave", session, waveId: message.waveId, ranks: reachable, call: message.call } satisfies WaveBroadcast)
      if (sent) for (const rank of reachable) unanswered[rank]++
      return sent ? targets.filter((rank) => !reachable.includes(rank)) : targets
    })

  const signal = (rank: number, stop: StopSignal) =>
    Effect.sync(() => {
      assert(Number.isInteger(rank) && rank >= 0 && rank < worldSize, "a signalled rank exists")
      membership.stopRequested(rank, stop)
      publish(subjects.control(rank), { t: "signal", session, signal: stop } satisfies EngineToRank)
    })

  const request = async (rank: number, message: EngineToRank, timeoutMs: number): Promise<ControlAnswer | undefined> => {
    if (closed || connection.isClosed()) return undefined
    try {
      const answer = await connection.request(subjects.control(rank), encodeMessage(message), { timeout: timeoutMs })
      const decoded = decodeControlAnswer(answer.data)
      return decoded._tag === "Success" ? decoded.success : undefined
    } catch {
      return undefined // timed out, nobody listening, or the connection closed: no answer
    }
  }

  const control = async (rank: number, op: ProcessControlOp, timeoutMs: number) => {
    const answer = await request(rank, { t: "control", session, id: nextControlId++, ...op }, timeoutMs)
    if (answer?.ok === true && answer.state !== undefined && membership.isMember(rank)) lastStates[rank] = answer.state
    return answer
  }

  const processExited = (rank: number, pid: number, exit: ExitInfo) => {
    setTimeout(() => {
      const slot = membership.slot(rank)
      if (slot.state === "member" && slot.pid === pid && membership.exited(rank, slot.incarnation, exit)) rankGone(rank, exit)
    }, localExitDrainMs)
  }

  const awaitGone = (rank: number, timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      if (membership.slot(rank).state === "gone") return resolve(true)
      const waiters = goneWaiters.get(rank) ?? []
      const wake = () => {
        clearTimeout(timer)
        resolve(true)
      }
      // A waiter that timed out leaves the list: waiting often must not grow it.
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(wake), 1)
        resolve(false)
      }, timeoutMs)
      waiters.push(wake)
      goneWaiters.set(rank, waiters)
    })

  const awaitJoins = async (timeoutMs: number) => {
    const deadlineMs = performance.now() + timeoutMs
    while (membership.confirmedCount() < worldSize && performance.now() < deadlineMs) await delay(25)
    return Array.from({ length: worldSize }, (_, rank) => rank).filter((rank) => {
      const slot = membership.slot(rank)
      return slot.state !== "member" || !slot.confirmed
    })
  }

  const close = async () => {
    if (closed) return
    closed = true
    clearInterval(ticker)
    for (const subscription of subscriptions) subscription.unsubscribe()
  }

  return {
    transport: { worldSize, send, listen: outlet.listen, signal },
    session,
    slot: membership.slot,
    awaitJoins,
    seal: membership.seal,
    control,
    network: async (rank, fault, timeoutMs) => (await request(rank, { t: "network", session, ...fault }, timeoutMs))?.ok === true,
    processExited,
    awaitGone,
    lastState: (rank) => lastStates[rank],
    stats: () => ({ ...counters, droppedEvents: outlet.dropped() }),
    close
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

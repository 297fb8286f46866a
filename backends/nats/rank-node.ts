/**
 * One rank over NATS: joins an engine's session, serves its waves, heartbeats, obeys its stop
 * signals and network faults. `rankwise rank` runs this on any machine; the NATS harness spawns
 * the same code locally (rank-main.ts).
 *
 * Serving is the process backend's rank host (backends/process/rank-host.ts), unchanged: the same
 * decoding allowlist, fault points and state reports; only its I/O differs. Each incarnation gets
 * its own host and a fresh worker, and its I/O stamps every message with that incarnation, so a
 * late reply from before a rejoin still carries the old number and the engine fences it.
 *
 * Lifecycle: join (bounded by `joinWaitMs`), serve, and on a notice that this incarnation is
 * dead, rejoin with a new one. The process exits on `shutdown`, an injected crash, a stop signal
 * (SIGTERM/SIGINT, or one sent over NATS), a lost link, or a join that nobody accepts in time.
 */
import { hostname } from "node:os"
import type { Msg, NatsConnection } from "nats"
import type { ExitInfo } from "../../core/control.ts"
import type { ControlAnswer, RankWireMessage } from "../process/protocol.ts"
import type { RankModelOptions, WorkerKind } from "../process/rank-config.ts"
import { makeRankFaults, type RankFaults } from "../process/rank-faults.ts"
import { makeRankHost, type RankHost, type RankIo } from "../process/rank-host.ts"
import { workerFactories } from "../process/worker-kinds.ts"
import type { NatsEndpoint } from "./connection.ts"
import {
  decodeEngineBeat, decodeEngineToRank, decodeJoinAnswer, decodeWave, type EngineToRank, type JoinRequest,
  encodeMessage, type NatsRankWireMessage, type RankEnvelope, subjectsOf
} from "./protocol.ts"
import { openRankLink, type RankLink } from "./rank-link.ts"

export interface NatsRankOptions {
  readonly endpoint: NatsEndpoint
  readonly cluster: string
  readonly rank: number
  /** Checked by the engine when given; taken from the engine's answer when absent. */
  readonly worldSize?: number | undefined
  readonly outputRank: number
  readonly workerKind: WorkerKind
  /** The worker kind's knobs; an `onnx` rank needs `onnx` (its model and adapter folders). */
  readonly model: RankModelOptions
  /** How long the rank waits for an engine to accept it (at start and after each rejoin). */
  readonly joinWaitMs: number
}

/** How the rank ends its process; the CLI passes the real one, tests may pass their own. */
export interface RankProcessHooks {
  readonly exit: (code: number) => void
  readonly killSelf: (signal: "SIGTERM" | "SIGKILL") => void
  readonly report: (text: string) => void
}

/** Exit codes a supervisor can tell apart. */
export const rankExitCodes = { joinTimedOut: 4, linkLost: 5 } as const

const joinRequestTimeoutMs = 1_000
const joinRetryMs = 250
const exitFlushMs = 300
const outboxHeldMax = 4_096
/** An engine silent this long (and at least this many of its silence bounds) has gone away. */
const orphanAfterMinMs = 30_000
const orphanAfterSilences = 10

interface Joined {
  readonly session: string
  readonly worldSize: number
  readonly heartbeatEveryMs: number
  readonly silenceMaxMs: number
  readonly standby: boolean
}

/** Runs the rank until its process exits (through `hooks`). Resolves once it is serving. */
export const startNatsRank = async (options: NatsRankOptions, hooks: RankProcessHooks) => {
  const subjects = subjectsOf(options.cluster)
  const faults = makeRankFaults(options.rank, [])
  const pendingControls = new Map<number, Respond>()
  let incarnation = newIncarnation()
  let joined: Joined | undefined
  let host: RankHost | undefined
  let joining: Promise<void> | undefined
  let leaving = false
  let heartbeat: ReturnType<typeof setInterval> | undefined
  let lastEngineBeatMs = performance.now()
  let seq = 0

  const envelope = (stamp: number, message: NatsRankWireMessage): RankEnvelope =>
    ({ session: joined?.session ?? null, rank: options.rank, incarnation: stamp, message })

  // The host of one incarnation: everything it says carries that incarnation, forever.
  const ioFor = (stamp: number): RankIo => {
    let exitReason: string | undefined
    const post = (message: RankWireMessage) => {
      if (message.t === "control") return pendingControls.get(message.id)?.(message)
      if (message.t === "ready" || message.t === "exiting") return
      link.send(subjects.reply(options.rank), envelope(stamp, message))
    }
    return {
      post,
      // The reason rides on the rank's `exit` message (leave, below), which is flushed to the server.
      noteExit: async (reason) => void (exitReason = reason),
      exit: (code) => leave({ code, signal: null, reason: exitReason ?? `exit ${code}` }, () => hooks.exit(code)),
      holdTerminate: () => {}, // the rank's SIGTERM handler is always installed: it asks `faults`
      report: hooks.report
    }
  }

  const leave = (exit: ExitInfo, finish: () => void) => {
    if (leaving) return
    leaving = true
    clearInterval(heartbeat)
    link.outbox.dropPending()
    link.sendNow(subjects.reply(options.rank), envelope(incarnation, { t: "exit", ...exit }))
    void link.flush(exitFlushMs).then(() => link.close()).then(finish, finish)
  }

  const terminate = () => {
    if (faults.resistTerminate()) return hooks.report(`rank ${options.rank}: ignoring a terminate request (ignoreTerminate fault)\n`)
    leave({ code: null, signal: "SIGTERM", reason: "SIGTERM" }, () => hooks.killSelf("SIGTERM"))
  }

  const kill = (reason: string) => leave({ code: null, signal: "SIGKILL", reason }, () => hooks.killSelf("SIGKILL"))

  const beat = () => {
    if (joined === undefined || !link.connected() || leaving) return
    link.send(subjects.reply(options.rank), envelope(incarnation, { t: "hb", seq: seq++ }))
    const orphanAfterMs = Math.max(orphanAfterMinMs, orphanAfterSilences * joined.silenceMaxMs)
    if (performance.now() - lastEngineBeatMs > orphanAfterMs) rejoin("the engine has been silent too long")
  }

  const accept = (answer: Joined) => {
    joined = answer
    lastEngineBeatMs = performance.now()
    host = answer.standby ? undefined : makeRankHost(options.rank, workerFactories[options.workerKind]({
      rank: options.rank, worldSize: answer.worldSize, outputRank: options.outputRank, workerKind: options.workerKind, model: options.model, faults: []
    }), faults, ioFor(incarnation))
    clearInterval(heartbeat)
    heartbeat = setInterval(beat, answer.heartbeatEveryMs)
    // The first beat completes the join: the engine sends no wave before it (membership.ts).
    beat()
  }

  // Asks to join until accepted, refused for good, or `joinWaitMs` runs out. One loop at a time.
  const join = () => (joining ??= joinLoop().finally(() => { joining = undefined }))
  const joinLoop = async () => {
    const deadlineMs = performance.now() + options.joinWaitMs
    const request: JoinRequest = { t: "join", rank: options.rank, incarnation, worldSize: options.worldSize ?? null, pid: process.pid, host: hostname() }
    let lastRefusal: string | undefined
    while (performance.now() < deadlineMs && !leaving) {
      const bytes = await link.request(subjects.join, request, joinRequestTimeoutMs)
      const decoded = bytes === undefined ? undefined : decodeJoinAnswer(bytes)
      const answer = decoded?._tag === "Success" ? decoded.success : undefined
      if (answer?.t === "joined") return accept(answer)
      if (answer?.t === "refused" && answer.exit) return kill(`refused on join: ${answer.reason}`)
      // Said once per reason: a rank waiting minutes for its engine must not flood its log.
      if (answer?.t === "refused" && answer.reason !== lastRefusal) hooks.report(`rank ${options.rank}: join refused: ${answer.reason}\n`)
      lastRefusal = answer?.t === "refused" ? answer.reason : lastRefusal
      await delay(joinRetryMs)
    }
    if (leaving) return
    hooks.report(`rank ${options.rank}: no engine accepted the join within ${options.joinWaitMs} ms\n`)
    leave({ code: rankExitCodes.joinTimedOut, signal: null, reason: "join timed out" }, () => hooks.exit(rankExitCodes.joinTimedOut))
  }

  // A new incarnation with a fresh worker: the old host keeps finishing what it holds, but it
  // gets no new waves and whatever it still says carries the old incarnation.
  const rejoin = (reason: string) => {
    if (joining !== undefined || leaving) return
    hooks.report(`rank ${options.rank}: rejoining (${reason})\n`)
    clearInterval(heartbeat)
    joined = undefined
    host = undefined
    incarnation = newIncarnation(incarnation)
    void join()
  }

  const onWave = (data: Uint8Array) => {
    const wave = decodeWave(data)
    if (wave._tag === "Failure") {
      if (joined !== undefined) link.send(subjects.reply(options.rank), envelope(incarnation, { t: "refused", reason: wave.failure }))
      return
    }
    const { session, waveId, ranks, call } = wave.success
    if (host === undefined || session !== joined?.session || !ranks.includes(options.rank)) return
    host.receive({ t: "wave", waveId, call })
  }

  const onEngineBeat = (data: Uint8Array) => {
    const beat = decodeEngineBeat(data)
    if (beat._tag === "Failure") return
    if (beat.success.session === joined?.session) return void (lastEngineBeatMs = performance.now())
    // Another session is alive while ours has been silent past its own bound: ours is gone.
    if (joined !== undefined && performance.now() - lastEngineBeatMs > joined.silenceMaxMs) rejoin("a new engine session")
  }

  const onControl = (data: Uint8Array, respond: Respond) => {
    const decoded = decodeEngineToRank(data)
    if (decoded._tag === "Failure") return respond({ t: "control", id: -1, ok: false, reason: decoded.failure })
    const message = decoded.success
    const ours = message.session === joined?.session
    switch (message.t) {
      case "notice":
        if (message.notice === "kill" && ours) return kill("killed while unreachable")
        if (message.notice === "rejoin" && (ours || joined === undefined)) rejoin(message.reason)
        return
      case "signal":
        if (!ours) return
        return message.signal === "kill" ? kill("killed") : terminate()
      case "network":
        return applyNetworkFault(message, respond)
      case "control":
        if (message.op === "heal") link.outbox.setDelay(0)
        if (host === undefined) return respond(answerWithoutHost(faults, options.rank, message))
        pendingControls.set(message.id, respond)
        host.receive(message.op === "inject" ? { t: "control", id: message.id, op: "inject", fault: message.fault } : { t: "control", id: message.id, op: message.op })
        pendingControls.delete(message.id) // the host answers controls synchronously
    }
  }

  // The answer goes first, then the cut, in one step: whatever the engine sends after it has
  // heard the answer finds the rank cut off.
  const applyNetworkFault = (message: Extract<EngineToRank, { t: "network" }>, respond: Respond) => {
    respond({ t: "control", id: -1, ok: true })
    if (message.fault === "delay") return link.outbox.setDelay(message.delayMs)
    void link.disconnectFor(message.durationMs)
  }

  // While cut off, messages the client had already read are ignored, as if they never came.
  const subscribe = (connection: NatsConnection) => [
    connection.subscribe(subjects.wave, { callback: (error, message) => error === null && link.connected() && onWave(message.data) }),
    connection.subscribe(subjects.engine, { callback: (error, message) => error === null && link.connected() && onEngineBeat(message.data) }),
    connection.subscribe(subjects.control(options.rank), {
      callback: (error, message) => error === null && link.connected() && onControl(message.data, respondTo(message))
    })
  ]

  const link: RankLink = await openRankLink({
    endpoint: options.endpoint,
    name: `rankwise-rank-${options.cluster}-${options.rank}`,
    subscribe,
    heldMax: outboxHeldMax,
    onLost: (reason) => {
      hooks.report(`rank ${options.rank}: lost the NATS server: ${reason}\n`)
      if (leaving) return
      leaving = true
      hooks.exit(rankExitCodes.linkLost)
    }
  })
  void join()
  return {
    /** A stop request (SIGTERM, or one sent over NATS): an ignoreTerminate fault may refuse it. */
    terminate,
    /** Leaves now with `exit`, then ends the process with `code`. */
    leave: (exit: ExitInfo, code: number) => leave(exit, () => hooks.exit(code)),
    incarnation: () => incarnation
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// Control answers and incarnations.
// ---------------------------------------------------------------------------------------------

type Respond = (answer: ControlAnswer) => void

/** Answers a NATS request; a plain publish (no reply subject) needs no answer. */
const respondTo = (message: Msg): Respond => (answer) => {
  if (message.reply) message.respond(encodeMessage(answer))
}

/**
 * A number no earlier incarnation of this rank used: the clock in milliseconds, scaled, plus
 * randomness (two processes started in one millisecond), and above the previous one.
 */
export const newIncarnation = (previous = 0): number =>
  Math.max(previous + 1, Date.now() * 1_024 + Math.floor(Math.random() * 1_024))

/** Before a rank has a host (joining, standby) its faults still take orders and its truth is empty. */
const answerWithoutHost = (faults: RankFaults, rank: number, message: Extract<EngineToRank, { t: "control" }>): ControlAnswer => {
  switch (message.op) {
    case "truth":
      return { t: "control", id: message.id, ok: true, state: { loaded: false, asleep: false, sleepLevel: null, loras: [], usedBytes: 0 } }
    case "inject":
      if (message.fault.rank !== rank) return { t: "control", id: message.id, ok: false, reason: `fault for rank ${message.fault.rank} reached rank ${rank}` }
      faults.inject(message.fault)
      return { t: "control", id: message.id, ok: true }
    case "heal":
      faults.heal()
      return { t: "control", id: message.id, ok: true }
  }
}

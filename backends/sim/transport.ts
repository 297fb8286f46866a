/**
 * An in-memory RankTransport (core/transport.ts): simulated rank processes on virtual time.
 *
 * Each rank is a "process": a host fiber in the cluster's scope serves a bounded mailbox one
 * message at a time, in order, as a real worker process does, so a hung method blocks every
 * later message of that rank. The rank's events reach the executor's handler `replyDelayMs` of
 * virtual time after the rank sent them, in the order it sent them (through a delivery fiber per
 * rank when the delay is above 0). The handler never runs inside the caller's own `send` or
 * `signal`.
 *
 * Fault model (faults.ts): before applying a call the host asks the fault book whether a call
 * fault fires: `throw` answers a definite ModelError, `hang` waits for `heal` or death, `slow`
 * waits `delayMs`, `crashBeforeApply`/`crashAfterApply` end the process with code 1 without a
 * reply. Signals may be resisted (`ignoreTerminate`, `unkillable`). A rank exit is final: it
 * interrupts the host mid-call, the rank's `Exited` event is emitted exactly once, after every
 * reply the rank sent before it, and no reply of that rank is ever emitted after it.
 */
import { Cause, Clock, Deferred, Duration, Effect, Fiber, Queue, Scope } from "effect"
import { assert } from "../../core/assert.ts"
import type { ExitInfo } from "../../core/control.ts"
import { ModelError } from "../../core/errors.ts"
import type {
  RankTransportShape, ReplyResult, StopSignal, TransportEvent, WaveMessage
} from "../../core/transport.ts"
import { dispatch, type WorkerCall, type WorkerShape } from "../../core/worker.ts"
import type { FaultBook } from "./faults.ts"

export interface SimTransportOptions {
  /** One worker per rank, index = rank. */
  readonly workers: ReadonlyArray<WorkerShape>
  readonly book: FaultBook
  /** Messages a rank holds before `send` answers it as unreachable. */
  readonly mailboxCapacity?: number | undefined
  /** Virtual milliseconds between a rank sending an event and the handler receiving it. */
  readonly replyDelayMs?: number | undefined
}

/** The transport plus the controls only the simulated cluster has. */
export interface SimTransport {
  readonly transport: RankTransportShape
  /** Clears every fault and releases every hung call (which then applies and replies late). */
  readonly heal: () => Effect.Effect<void>
  /** How `rank` ended, or null while it runs. */
  readonly exitOf: (rank: number) => ExitInfo | null
}

export const simTransportDefaults = { mailboxCapacity: 64, replyDelayMs: 0 } as const

interface Outgoing {
  readonly event: TransportEvent
  readonly deliverAtMs: number
}

/** One simulated rank process. */
interface RankHost {
  readonly rank: number
  readonly worker: WorkerShape
  readonly mailbox: Queue.Queue<WaveMessage>
  /** Replies on their way to the handler; ended (`Queue.end`) when the rank exits. */
  readonly outbox: Queue.Queue<Outgoing, Cause.Done>
  exit: ExitInfo | null
  exitAtMs: number
  fiber: Fiber.Fiber<void> | undefined
}

/** The shared state of the simulated network: its ranks, its fault book and its one listener. */
interface Network {
  readonly hosts: ReadonlyArray<RankHost>
  readonly book: FaultBook
  readonly replyDelayMs: number
  /** Events before `listen` wait here, at most this many (see `makeSimTransport`). */
  readonly bufferedEventsMax: number
  readonly buffered: Array<TransportEvent>
  handler: ((event: TransportEvent) => void) | undefined
  /** Completed by `heal`, then replaced: every call hung before the heal resumes. */
  healSignal: Deferred.Deferred<void>
  /** The cluster's scope, where the transport forks its own fibers. */
  readonly scope: Scope.Scope
}

/** Builds the transport and forks every rank's fibers in the current scope. */
export const makeSimTransport = (options: SimTransportOptions): Effect.Effect<SimTransport, never, Scope.Scope> =>
  Effect.gen(function* () {
    const worldSize = options.workers.length
    const mailboxCapacity = options.mailboxCapacity ?? simTransportDefaults.mailboxCapacity
    const replyDelayMs = options.replyDelayMs ?? simTransportDefaults.replyDelayMs
    assert(worldSize >= 1, "a transport reaches at least one rank")
    assert(Number.isInteger(mailboxCapacity) && mailboxCapacity >= 1, "a mailbox holds at least one message")
    assert(Number.isFinite(replyDelayMs) && replyDelayMs >= 0, "the reply delay is a finite number of at least 0 ms")
    const hosts: Array<RankHost> = []
    for (let rank = 0; rank < worldSize; rank++) hosts.push(yield* makeRankHost(rank, options.workers[rank], mailboxCapacity))
    const network: Network = {
      hosts,
      book: options.book,
      replyDelayMs,
      // Before anyone listens, a rank can send at most a mailbox of replies and its exit in any
      // sane use; more than that is a bug in the caller.
      bufferedEventsMax: worldSize * (mailboxCapacity + 1),
      buffered: [],
      handler: undefined,
      healSignal: yield* Deferred.make<void>(),
      scope: yield* Effect.scope
    }
    for (const host of hosts) {
      if (replyDelayMs > 0) yield* Effect.forkScoped(deliverRank(network, host))
      host.fiber = yield* Effect.forkScoped(serveRank(network, host))
    }
    const transport: RankTransportShape = {
      worldSize,
      send: (message, ranks) => send(network, message, ranks),
      listen: (handler) => listen(network, handler),
      signal: (rank, stop) => signal(network, rank, stop)
    }
    return { transport, heal: () => heal(network), exitOf: (rank: number) => hosts[rank]?.exit ?? null }
  })

const makeRankHost = (rank: number, worker: WorkerShape, mailboxCapacity: number) =>
  Effect.gen(function* () {
    const host: RankHost = {
      rank,
      worker,
      mailbox: yield* Queue.bounded<WaveMessage>(mailboxCapacity),
      // Replies wait here for their delivery time; a full outbox blocks the rank, as a full pipe does.
      outbox: yield* Queue.bounded<Outgoing, Cause.Done>(mailboxCapacity),
      exit: null,
      exitAtMs: 0,
      fiber: undefined
    }
    return host
  })

// ---------------------------------------------------------------------------------------------
// The contract's operations.
// ---------------------------------------------------------------------------------------------

const assertRank = (network: Network, rank: number): void =>
  assert(Number.isInteger(rank) && rank >= 0 && rank < network.hosts.length, `rank ${rank} lies within the world`)

/** Enqueues the message for each live rank with room; answers the others as unreachable. */
const send = (network: Network, message: WaveMessage, ranks: ReadonlyArray<number>) =>
  Effect.sync((): ReadonlyArray<number> => {
    assert(new Set(ranks).size === ranks.length, "a wave addresses each rank once")
    const unreachable: Array<number> = []
    for (const rank of ranks) {
      assertRank(network, rank)
      const host = network.hosts[rank]
      if (host.exit !== null || !Queue.offerUnsafe(host.mailbox, message)) unreachable.push(rank)
    }
    return unreachable
  })

/** Installs the one handler and hands it what was buffered, in order. */
const listen = (network: Network, handler: (event: TransportEvent) => void) =>
  Effect.sync(() => {
    assert(network.handler === undefined, "a transport has one listener")
    network.handler = handler
    for (const event of network.buffered.splice(0)) handler(event)
  })

/** SIGTERM or SIGKILL, unless the rank resists it (`ignoreTerminate`, `unkillable`). */
const signal = (network: Network, rank: number, stop: StopSignal) =>
  Effect.gen(function* () {
    assertRank(network, rank)
    const host = network.hosts[rank]
    if (host.exit !== null) return
    if (network.book.resist(rank, stop) !== undefined) return
    const name = stop === "terminate" ? "SIGTERM" : "SIGKILL"
    if (!(yield* markExited(network, host, { code: null, signal: name, reason: name }))) return
    // Interrupting waits for the host to stop, so once `signal` returns the rank applies nothing.
    if (host.fiber !== undefined) yield* Fiber.interrupt(host.fiber)
  })

const heal = (network: Network) =>
  Effect.gen(function* () {
    network.book.heal()
    const released = network.healSignal
    network.healSignal = yield* Deferred.make<void>()
    yield* Deferred.succeed(released, undefined)
  })

// ---------------------------------------------------------------------------------------------
// One rank process.
// ---------------------------------------------------------------------------------------------

/**
 * The rank process: serves its mailbox until it exits. A defect in the worker (an assertion of
 * the simulation) still kills the fiber and is reported; the rank exits too, so the executor
 * sees a crash instead of waiting forever.
 */
const serveRank = (network: Network, host: RankHost) =>
  Effect.gen(function* () {
    while (host.exit === null) {
      const message = yield* Queue.take(host.mailbox)
      yield* serveMessage(network, host, message)
    }
  }).pipe(Effect.onError((cause) =>
    Cause.hasDies(cause) ? markExited(network, host, crashExit(`rank host died: ${String(Cause.squash(cause))}`)) : Effect.void))

/** Serves one message, faults first; after a crash or a shutdown the rank has exited. */
const serveMessage = (network: Network, host: RankHost, message: WaveMessage) =>
  Effect.gen(function* () {
    const method = message.call.method
    const fault = network.book.take(host.rank, method)
    if (fault?.kind === "throw") {
      const error = new ModelError({ reason: `injected fault: throw in ${method} on rank ${host.rank}` })
      return yield* reply(network, host, message, { _tag: "Failed", error })
    }
    if (fault?.kind === "crashBeforeApply") {
      return yield* markExited(network, host, crashExit(`crashed before applying ${method} (injected)`))
    }
    // A hung call is not lost: once healed it applies and replies, late, as a stuck call does.
    if (fault?.kind === "hang") yield* Effect.suspend(() => Deferred.await(network.healSignal))
    if (fault?.kind === "slow") yield* Effect.sleep(Duration.millis(fault.delayMs))
    const result = yield* apply(host, message.call)
    if (fault?.kind === "crashAfterApply") {
      return yield* markExited(network, host, crashExit(`crashed after applying ${method} (injected)`))
    }
    yield* reply(network, host, message, result)
    if (method === "shutdown") yield* markExited(network, host, { code: 0, signal: null, reason: "shutdown" })
  })

const apply = (host: RankHost, call: WorkerCall): Effect.Effect<ReplyResult> =>
  Effect.map(Effect.result(dispatch(host.worker, call)), (result): ReplyResult =>
    result._tag === "Success" ? { _tag: "Ok", value: result.success } : { _tag: "Failed", error: result.failure })

/**
 * Sends one reply of `host`; once the rank has exited it is dropped. Without a reply delay the
 * rank's own fiber hands the event to the handler at once. That saves a scheduler hop, and it
 * matters under TestClock: an `adjust` waits only for work that a clock wake started, so a reply
 * that took an extra hop could lose to a timeout it should beat.
 */
const reply = (network: Network, host: RankHost, message: WaveMessage, result: ReplyResult) =>
  Effect.gen(function* () {
    const event: TransportEvent = { _tag: "Reply", reply: { rank: host.rank, waveId: message.waveId, result } }
    if (network.replyDelayMs === 0) {
      if (host.exit === null) deliver(network, event)
      return
    }
    const nowMs = yield* Clock.currentTimeMillis
    yield* Queue.offer(host.outbox, { event, deliverAtMs: nowMs + network.replyDelayMs })
  })

/**
 * Records the exit once and emits `Exited` after every reply the rank already sent: at once
 * without a reply delay, else by ending the outbox, which the delivery fiber drains first. Either
 * way every later reply is refused. Shutting the mailbox drops calls the rank will never read.
 * Answers false when the rank had already exited.
 */
const markExited = (network: Network, host: RankHost, exit: ExitInfo) =>
  Effect.gen(function* () {
    if (host.exit !== null) return false
    host.exit = exit
    host.exitAtMs = yield* Clock.currentTimeMillis
    if (network.replyDelayMs === 0) yield* emitExitedNow(network, host)
    yield* Queue.end(host.outbox)
    yield* Queue.shutdown(host.mailbox)
    return true
  })

/**
 * Without a reply delay, `Exited` goes out at once, but never from inside the caller's own
 * `signal`: a fiber of the transport hands it over, as a real platform reports an exit
 * asynchronously, so an executor never sees its handler run re-entrantly inside `signal`.
 */
const emitExitedNow = (network: Network, host: RankHost) => {
  const event = exitedEvent(host)
  return Effect.asVoid(Effect.forkIn(Effect.sync(() => deliver(network, event)), network.scope))
}

/** With a reply delay: hands the rank's events over in order, each at its time; ends with `Exited`. */
const deliverRank = (network: Network, host: RankHost) =>
  Effect.gen(function* () {
    while (true) {
      const next = yield* Effect.result(Queue.take(host.outbox))
      const outgoing = next._tag === "Success"
        ? next.success
        : { event: exitedEvent(host), deliverAtMs: host.exitAtMs + network.replyDelayMs }
      const nowMs = yield* Clock.currentTimeMillis
      if (outgoing.deliverAtMs > nowMs) yield* Effect.sleep(Duration.millis(outgoing.deliverAtMs - nowMs))
      deliver(network, outgoing.event)
      if (outgoing.event._tag === "Exited") return
    }
  })

const deliver = (network: Network, event: TransportEvent): void => {
  if (network.handler !== undefined) return network.handler(event)
  assert(network.buffered.length < network.bufferedEventsMax, `at most ${network.bufferedEventsMax} events wait for a listener`)
  network.buffered.push(event)
}

const crashExit = (reason: string): ExitInfo => ({ code: 1, signal: null, reason })

const exitedEvent = (host: RankHost): TransportEvent => {
  assert(host.exit !== null, "a rank's outbox ends only when it exits")
  return { _tag: "Exited", rank: host.rank, exit: host.exit }
}

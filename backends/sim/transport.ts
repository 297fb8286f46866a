/**
 * An in-memory RankTransport (core/transport.ts): simulated rank processes (rank-host.ts) behind
 * a simulated network (network.ts, links.ts), on virtual time.
 *
 * `send` hands a request to each rank's request link and `signal` reaches the rank process
 * directly, as a platform's kill does. Each rank's events come back on its reply link to the one
 * handler, which never runs inside the caller's own `send` or `signal`: a mailbox wakes its host
 * through the scheduler, and an exit is reported from a fiber of the transport.
 *
 * Fault model: call faults and signal resistance come from the fault book (faults.ts,
 * fault-book.ts); delay, loss, duplication, reordering and partitions come from the network.
 * What holds whatever the faults: a call executes at most once per wave id on a rank; a rank's
 * `Exited` is emitted exactly once, even across a clogged or lossy link, after every in-order
 * reply the rank sent before it, and no reply of that rank is ever emitted after it.
 */
import { Clock, Deferred, Effect, Fiber, type Scope } from "effect"
import { assert } from "../../core/assert.ts"
import type { ExitInfo } from "../../core/control.ts"
import { makeStream, type Prng } from "../../core/random.ts"
import type { RankTransportShape, StopSignal, TransportEvent, WaveMessage } from "../../core/transport.ts"
import type { FaultBook } from "./fault-book.ts"
import { faultPointOfKind, type FaultPoints, makeFaultPoints } from "./fault-points.ts"
import { canDeliverNow, type LinkEnv, transmit } from "./links.ts"
import { scopedSimTimers } from "./timers.ts"
import type { SimulatedWorker } from "./model.ts"
import { makeNetworkControls, type NetworkControls } from "./network-controls.ts"
import {
  checkNetworkConfig, type Direction, linkConfigOf, mergeLinkConfig, type NetworkConfig, quietLink, type ResolvedLinkConfig
} from "./network.ts"
import { accept, type HostContext, makeRankHost, markExited, type RankHost, serveRank } from "./rank-host.ts"

export interface SimTransportOptions {
  /** One worker per rank, index = rank. */
  readonly workers: ReadonlyArray<SimulatedWorker>
  readonly book: FaultBook
  /** Messages a rank holds before `send` answers it as unreachable. */
  readonly mailboxCapacity?: number | undefined
  /** A fixed delay on every reply link; `network.reply.delayMs` overrides it. */
  readonly replyDelayMs?: number | undefined
  readonly network?: NetworkConfig | undefined
  /** Where the network draws; default the `network` stream of seed 0. */
  readonly random?: Prng | undefined
  /** Where fault points are counted and observed; default counters without an observer. */
  readonly points?: FaultPoints | undefined
}

/** The transport plus the controls only the simulated cluster has. */
export interface SimTransport {
  readonly transport: RankTransportShape
  /** Clears every fault and releases every hung call (which then applies and replies late). */
  readonly heal: () => Effect.Effect<void>
  /** How `rank` ended, or null while it runs. */
  readonly exitOf: (rank: number) => ExitInfo | null
  readonly network: NetworkControls
  readonly points: FaultPoints
}

export const simTransportDefaults = { mailboxCapacity: 64, replyDelayMs: 0 } as const

/** The shared state of the transport: its ranks, its one listener, the heal signal. */
interface TransportState {
  readonly hosts: Array<RankHost>
  readonly context: HostContext
  /** Events before `listen` wait here, at most this many (see `makeSimTransport`). */
  readonly bufferedEventsMax: number
  readonly buffered: Array<TransportEvent>
  handler: ((event: TransportEvent) => void) | undefined
  healSignal: Deferred.Deferred<void>
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
    const network = options.network ?? {}
    assert(checkNetworkConfig(network, worldSize) === undefined, "the cluster checked the network configuration")
    const clock = yield* Clock.Clock
    const nowMs = () => clock.currentTimeMillisUnsafe()
    const points = options.points ?? makeFaultPoints(nowMs)
    const links: LinkEnv = {
      nowMs, random: options.random ?? makeStream(0, "network"), points, scope: yield* Effect.scope, timers: yield* scopedSimTimers
    }
    const state: TransportState = {
      hosts: [],
      context: { book: options.book, points, links, healSignal: () => state.healSignal },
      // Before anyone listens, a rank can send at most a mailbox of replies (twice, duplicated)
      // and its exit in any sane use; more than that is a bug in the caller.
      bufferedEventsMax: worldSize * (2 * mailboxCapacity + 1),
      buffered: [],
      handler: undefined,
      healSignal: yield* Deferred.make<void>()
    }
    const replyBase = mergeLinkConfig(quietLink, { delayMs: { kind: "fixed", ms: replyDelayMs } })
    for (let rank = 0; rank < worldSize; rank++) {
      state.hosts.push(yield* makeRankHost(state.context, {
        rank,
        worker: options.workers[rank],
        mailboxCapacity,
        request: resolveLink(network, rank, "request", quietLink),
        reply: resolveLink(network, rank, "reply", replyBase),
        deliver: (event) => deliver(state, event)
      }))
    }
    for (const host of state.hosts) host.fiber = yield* Effect.forkScoped(serveRank(state.context, host))
    const transport: RankTransportShape = {
      worldSize,
      send: (message, ranks) => send(state, message, ranks),
      listen: (handler) => listen(state, handler),
      signal: (rank, stop) => signal(state, rank, stop)
    }
    return {
      transport,
      heal: () => heal(state),
      exitOf: (rank: number) => state.hosts[rank]?.exit ?? null,
      network: makeNetworkControls(links, state.hosts),
      points
    }
  })

const resolveLink = (network: NetworkConfig, rank: number, direction: Direction, base: ResolvedLinkConfig) =>
  linkConfigOf(network, rank, direction).reduce(mergeLinkConfig, base)

const assertRank = (state: TransportState, rank: number): void =>
  assert(Number.isInteger(rank) && rank >= 0 && rank < state.hosts.length, () => `rank ${rank} lies within the world`)

/**
 * Hands the message to each live rank's request link. On a quiet link it reaches the mailbox at
 * once, so a full mailbox is answered as unreachable; on any other link the network carries it
 * and what goes wrong on the way is counted at a fault point, never answered.
 */
const send = (state: TransportState, message: WaveMessage, ranks: ReadonlyArray<number>): Effect.Effect<ReadonlyArray<number>> =>
  Effect.suspend(() => {
    assert(new Set(ranks).size === ranks.length, "a wave addresses each rank once")
    const unreachable: Array<number> = []
    // Only a message the network must carry needs an effect; a quiet link hands it over now.
    const transmissions: Array<Effect.Effect<void>> = []
    for (const rank of ranks) {
      assertRank(state, rank)
      const host = state.hosts[rank]
      const site = { rank, method: message.call.method, waveId: message.waveId }
      if (host.exit !== null) {
        unreachable.push(rank)
      } else if (canDeliverNow(host.requestLink)) {
        const acceptance = accept(host, message)
        if (acceptance === "duplicate") state.context.points.fire("rank.duplicateRequest", site)
        if (acceptance === "stale") state.context.points.fire("rank.staleRequest", site)
        if (acceptance === "exited" || acceptance === "full") unreachable.push(rank)
      } else {
        transmissions.push(transmit(state.context.links, host.requestLink, message, site))
      }
    }
    return transmissions.length === 0 ? Effect.succeed(unreachable) : Effect.as(Effect.all(transmissions, { discard: true }), unreachable)
  })

/** Installs the one handler and hands it what was buffered, in order. */
const listen = (state: TransportState, handler: (event: TransportEvent) => void) =>
  Effect.sync(() => {
    assert(state.handler === undefined, "a transport has one listener")
    state.handler = handler
    for (const event of state.buffered.splice(0)) handler(event)
  })

/** SIGTERM or SIGKILL, unless the rank resists it (`ignoreTerminate`, `unkillable`). */
const signal = (state: TransportState, rank: number, stop: StopSignal) =>
  Effect.gen(function* () {
    assertRank(state, rank)
    const host = state.hosts[rank]
    if (host.exit !== null) return
    const resisted = state.context.book.resist(rank, stop)
    if (resisted !== undefined) return state.context.points.fire(faultPointOfKind[resisted], { rank, detail: stop })
    const name = stop === "terminate" ? "SIGTERM" : "SIGKILL"
    if (!(yield* markExited(state.context, host, { code: null, signal: name, reason: name }))) return
    // Interrupting waits for the host to stop, so once `signal` returns the rank applies nothing.
    if (host.fiber !== undefined) yield* Fiber.interrupt(host.fiber)
  })

const heal = (state: TransportState) =>
  Effect.gen(function* () {
    state.context.book.heal()
    const released = state.healSignal
    state.healSignal = yield* Deferred.make<void>()
    yield* Deferred.succeed(released, undefined)
  })

const deliver = (state: TransportState, event: TransportEvent): void => {
  if (state.handler !== undefined) return state.handler(event)
  assert(state.buffered.length < state.bufferedEventsMax, () => `at most ${state.bufferedEventsMax} events wait for a listener`)
  state.buffered.push(event)
}

/**
 * A test harness for the simulated transport in a virtual-time world (simulator/world.ts):
 * workers, a fault book, the transport with its network, and a log of every event the
 * executor's handler would see and every event the observer hears. Shared by the link, rank
 * host, fault point and network control tests.
 *
 * The world, not TestClock: a message on a slow link hops through several forked fibers, and
 * the world runs every ready task before it moves time, so "let it settle" means exactly that.
 */
import { Cause, Clock, Duration, Effect, Exit, Scope } from "effect"
import { makeStream } from "../../../core/random.ts"
import type { TransportEvent } from "../../../core/transport.ts"
import type { WorkerCall } from "../../../core/worker.ts"
import { makeFaultBook } from "../../../backends/sim/fault-book.ts"
import { makeFaultPoints, type SimEvent } from "../../../backends/sim/fault-points.ts"
import type { FaultRule, FaultSpec } from "../../../backends/sim/faults.ts"
import { makeSimulatedWorker } from "../../../backends/sim/model.ts"
import type { NetworkConfig } from "../../../backends/sim/network.ts"
import { makeSimTransport } from "../../../backends/sim/transport.ts"

import { makeWorld } from "../../../simulator/world.ts"

const budget = { virtualMsMax: 10_000_000, eventsMax: 10_000_000 }

/** Runs `program` in a fresh world of `seed` to its end; a failure or a deadlock throws. */
export const runSim = <A, E>(program: Effect.Effect<A, E, Scope.Scope>, seed = 0): A => {
  const result = makeWorld({ seed }).run(Effect.scoped(program), budget)
  if (result._tag !== "Done") throw new Error(`the world run ended ${result._tag} at ${result.atMs} ms`)
  if (Exit.isFailure(result.exit)) throw new Error(Cause.pretty(result.exit.cause))
  return result.exit.value
}

/** Lets `ms` of virtual time pass; every event due by then has run when it returns. */
export const advance = (ms: number) => Effect.sleep(Duration.millis(ms))

/** Long enough for every delay and step the tests configure to play out. */
export const settle = advance(10_000)

export interface HarnessOptions {
  readonly worldSize?: number
  readonly faults?: ReadonlyArray<FaultSpec>
  readonly rules?: ReadonlyArray<FaultRule>
  readonly network?: NetworkConfig
  readonly seed?: number
  readonly replyDelayMs?: number
  readonly mailboxCapacity?: number
  readonly stepMs?: number
  readonly listen?: boolean
}

/** Builds workers, a fault book and the transport, and records every event in order. */
export const makeHarness = (options: HarnessOptions = {}) =>
  Effect.gen(function* () {
    const worldSize = options.worldSize ?? 2
    const seed = options.seed ?? 0
    const workers = Array.from({ length: worldSize }, (_, rank) =>
      makeSimulatedWorker({ rank, worldSize, outputRank: 0, stepMs: options.stepMs ?? 1 }))
    const book = makeFaultBook(worldSize, options.faults ?? [], { rules: options.rules, random: makeStream(seed, "faults") })
    const observed: Array<SimEvent> = []
    const clock = yield* Clock.Clock
    const points = makeFaultPoints(() => clock.currentTimeMillisUnsafe(), (event) => observed.push(event))
    const sim = yield* makeSimTransport({
      workers, book, points, network: options.network, random: makeStream(seed, "network"),
      replyDelayMs: options.replyDelayMs, mailboxCapacity: options.mailboxCapacity
    })
    const events: Array<TransportEvent> = []
    if (options.listen ?? true) yield* sim.transport.listen((event) => events.push(event))
    const send = (waveId: number, call: WorkerCall, ranks: ReadonlyArray<number>) =>
      sim.transport.send({ waveId, call }, ranks)
    return { ...sim, workers, book, events, observed, send }
  })

export const repliesOf = (events: ReadonlyArray<TransportEvent>, rank: number) =>
  events.flatMap((event) => event._tag === "Reply" && event.reply.rank === rank ? [event.reply] : [])

export const exitsOf = (events: ReadonlyArray<TransportEvent>, rank: number) =>
  events.filter((event) => event._tag === "Exited" && event.rank === rank)

/** The events of one rank, in delivery order. */
export const eventsOf = (events: ReadonlyArray<TransportEvent>, rank: number) =>
  events.filter((event) => (event._tag === "Reply" ? event.reply.rank : event.rank) === rank)

export const addLora: WorkerCall = { method: "addLora", adapter: { id: 3, name: "style" } }
export const listLoras: WorkerCall = { method: "listLoras" }

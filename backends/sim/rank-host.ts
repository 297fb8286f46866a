/**
 * One simulated rank process: a host fiber serving a bounded mailbox, one message at a time, in
 * order, as a real worker process does, so a hung method blocks every later message of its rank.
 *
 * Fault model. Before applying a call the host asks the fault book whether a call fault fires
 * (faults.ts lists what each kind does). Requests may arrive twice (the network duplicates
 * them): the host remembers the wave ids it received and ignores a repeat, so a call executes at
 * most once. A rank exit is final: it interrupts the host mid-call, is reported once on the
 * reply link (links.ts delivers it after every in-order reply sent before it, and nothing of the
 * rank after it), and shuts the mailbox.
 */
import { Cause, Deferred, Duration, Effect, type Fiber, Queue } from "effect"
import { assert } from "../../core/assert.ts"
import type { ExitInfo } from "../../core/control.ts"
import { ModelError, type WorkerError } from "../../core/errors.ts"
import type { ReplyResult, TransportEvent, WaveMessage } from "../../core/transport.ts"
import { dispatch, type WorkerCall } from "../../core/worker.ts"
import type { FaultBook } from "./fault-book.ts"
import { faultPointOfKind, type FaultPoints, type FaultPointSite } from "./fault-points.ts"
import type { CallFault } from "./faults.ts"
import { type Link, type LinkEnv, makeLink, send, sendFinal } from "./links.ts"
import type { SimulatedWorker } from "./model.ts"
import type { ResolvedLinkConfig } from "./network.ts"

/** What every rank host of a cluster shares. */
export interface HostContext {
  readonly book: FaultBook
  readonly points: FaultPoints
  readonly links: LinkEnv
  /** Completed by `heal`, then replaced: every call hung before the heal resumes. */
  readonly healSignal: () => Deferred.Deferred<void>
}

export interface RankHost {
  readonly rank: number
  readonly worker: SimulatedWorker
  readonly mailbox: Queue.Queue<WaveMessage>
  readonly requestLink: Link<WaveMessage>
  readonly replyLink: Link<TransportEvent>
  readonly received: ReceivedWaves
  exit: ExitInfo | null
  fiber: Fiber.Fiber<void> | undefined
}

export interface RankHostOptions {
  readonly rank: number
  readonly worker: SimulatedWorker
  readonly mailboxCapacity: number
  readonly request: ResolvedLinkConfig
  readonly reply: ResolvedLinkConfig
  /** Hands an event to the executor's handler (or its buffer). */
  readonly deliver: (event: TransportEvent) => void
}

/** Builds a host; call it from a fiber the cluster's world runs, since its mailbox is a Queue. */
export const makeRankHost = (context: HostContext, options: RankHostOptions) =>
  Effect.gen(function* () {
    const host: RankHost = {
      rank: options.rank,
      worker: options.worker,
      mailbox: yield* Queue.bounded<WaveMessage>(options.mailboxCapacity),
      requestLink: makeLink(options.rank, "request", options.request, (message: WaveMessage) => arrive(context, host, message)),
      replyLink: makeLink(options.rank, "reply", options.reply, options.deliver),
      received: { highestWaveId: Number.NEGATIVE_INFINITY },
      exit: null,
      fiber: undefined
    }
    return host
  })

// ---------------------------------------------------------------------------------------------
// Arrival: at-most-once by wave id.
// ---------------------------------------------------------------------------------------------

/**
 * The newest wave a rank accepted. Wave ids grow with every call, so a rank accepts only ids above
 * it: a duplicate is dropped, and so is a request that a reordering network delivers after a
 * newer one (applying a stale addLora after a later removeLora would silently resurrect the
 * adapter). This fencing is what a real rank host does too; the executor then sees the stale
 * call time out, an indefinite outcome it already handles.
 */
interface ReceivedWaves {
  highestWaveId: number
}

const classify = (received: ReceivedWaves, waveId: number): "new" | "duplicate" | "stale" =>
  waveId > received.highestWaveId ? "new" : waveId === received.highestWaveId ? "duplicate" : "stale"

export type Acceptance = "accepted" | "exited" | "duplicate" | "stale" | "full"

/**
 * Puts a request in the mailbox unless the rank exited, already received its wave, or is full.
 * Only a request that got in counts as received: a copy of one that found the mailbox full may
 * still get in later, and it still executes at most once.
 */
export const accept = (host: RankHost, message: WaveMessage): Acceptance => {
  if (host.exit !== null) return "exited"
  const order = classify(host.received, message.waveId)
  if (order !== "new") return order
  if (!Queue.offerUnsafe(host.mailbox, message)) return "full"
  host.received.highestWaveId = message.waveId
  return "accepted"
}

/** A request the network delivers: what it could not hand over is counted, not answered. */
const arrive = (context: HostContext, host: RankHost, message: WaveMessage): void => {
  const site = siteOf(host, message)
  switch (accept(host, message)) {
    case "accepted": return
    case "exited": return context.points.fire("net.request.afterExit", site)
    case "duplicate": return context.points.fire("rank.duplicateRequest", site)
    case "stale": return context.points.fire("rank.staleRequest", site)
    case "full": return context.points.fire("net.request.overflow", site)
  }
}

const siteOf = (host: RankHost, message: WaveMessage): FaultPointSite =>
  ({ rank: host.rank, method: message.call.method, waveId: message.waveId })

// ---------------------------------------------------------------------------------------------
// Serving.
// ---------------------------------------------------------------------------------------------

/**
 * The rank process: serves its mailbox until it exits. A defect in the worker (an assertion of
 * the simulation) still kills the fiber and is reported; the rank exits too, so the executor
 * sees a crash instead of waiting forever.
 */
export const serveRank = (context: HostContext, host: RankHost) =>
  Effect.whileLoop({
    while: () => host.exit === null,
    body: () => Effect.flatMap(Queue.take(host.mailbox), (message) => serveMessage(context, host, message)),
    step: () => {}
  }).pipe(Effect.onError((cause) =>
    Cause.hasDies(cause)
      ? markExited(context, host, crashExit(`rank host died: ${String(Cause.squash(cause))}`))
      : Effect.void))

/**
 * Serves one message, faults first; after a crash or a shutdown the rank has exited. Written as
 * plain combinators rather than `Effect.gen`: every simulated call of every rank runs this, and
 * a generator per message was a measurable share of a simulated collective.
 */
const serveMessage = (context: HostContext, host: RankHost, message: WaveMessage): Effect.Effect<void> =>
  Effect.suspend(() => {
    assert(host.exit === null, "a rank serves messages only while it runs")
    const site = siteOf(host, message)
    context.points.observe("received", site)
    const fault = context.book.take(host.rank, message.call.method)
    if (fault === undefined) return applyAndReply(context, host, message, undefined)
    context.points.fire(faultPointOfKind[fault.kind], site)
    return Effect.flatMap(beforeApply(context, host, message, fault), (early) =>
      early === "done" ? Effect.void : applyAndReply(context, host, message, fault))
  })

/** Applies the call, then replies as the fault says (none, once, twice) or crashes instead. */
const applyAndReply = (context: HostContext, host: RankHost, message: WaveMessage, fault: CallFault | undefined): Effect.Effect<void> =>
  Effect.flatMap(apply(host, message.call), (result) => {
    const method = message.call.method
    if (fault?.kind === "crashAfterApply") {
      return Effect.asVoid(markExited(context, host, crashExit(`crashed after applying ${method} (injected)`)))
    }
    // A dropped reply is lost after the rank applied the call; a duplicated one is sent twice.
    const replies = fault?.kind === "dropReply" ? 0 : fault?.kind === "duplicateReply" ? 2 : 1
    let served: Effect.Effect<void> = Effect.void
    for (let copy = 0; copy < replies; copy++) served = Effect.andThen(served, reply(context, host, message, result))
    if (method === "shutdown") served = Effect.andThen(served, markExited(context, host, { code: 0, signal: null, reason: "shutdown" }))
    return Effect.asVoid(served)
  })

/** The faults that act before the call applies; "done" when the message needs nothing more. */
const beforeApply = (context: HostContext, host: RankHost, message: WaveMessage, fault: CallFault): Effect.Effect<"done" | "apply"> => {
  const method = message.call.method
  switch (fault.kind) {
    case "throw": {
      const error = new ModelError({ reason: `injected fault: throw in ${method} on rank ${host.rank}` })
      return Effect.as(reply(context, host, message, { _tag: "Failed", error }), "done")
    }
    case "crashBeforeApply":
      return Effect.as(markExited(context, host, crashExit(`crashed before applying ${method} (injected)`)), "done")
    case "crashDuringShutdown":
      return Effect.as(markExited(context, host, crashExit("crashed during shutdown (injected)")), "done")
    case "oomOnWake":
      return Effect.as(Effect.flatMap(toReply(host.worker.wakeUpOutOfMemory()), (result) => reply(context, host, message, result)), "done")
    // A hung call is not lost: once healed it applies and replies, late, as a stuck call does.
    case "hang":
      return Effect.as(Effect.suspend(() => Deferred.await(context.healSignal())), "apply")
    case "slow":
      return Effect.as(Effect.sleep(Duration.millis(fault.delayMs)), "apply")
    default:
      return Effect.succeed("apply")
  }
}

const apply = (host: RankHost, call: WorkerCall): Effect.Effect<ReplyResult> => toReply(dispatch(host.worker, call))

const toReply = (effect: Effect.Effect<unknown, WorkerError>): Effect.Effect<ReplyResult> =>
  Effect.map(Effect.result(effect), (result): ReplyResult =>
    result._tag === "Success" ? { _tag: "Ok", value: result.success } : { _tag: "Failed", error: result.failure })

/** Sends one reply of `host` on its reply link; once the rank has exited nothing is sent. */
const reply = (context: HostContext, host: RankHost, message: WaveMessage, result: ReplyResult) =>
  Effect.suspend(() => {
    if (host.exit !== null) return Effect.void
    const site = siteOf(host, message)
    context.points.observe("replied", site)
    const event: TransportEvent = { _tag: "Reply", reply: { rank: host.rank, waveId: message.waveId, result } }
    return send(context.links, host.replyLink, event, site)
  })

/**
 * Records the exit once and reports it on the reply link, where no later reply can follow it.
 * Shutting the mailbox drops calls the rank will never read. Answers false when the rank had
 * already exited.
 */
export const markExited = (context: HostContext, host: RankHost, exit: ExitInfo) =>
  Effect.gen(function* () {
    if (host.exit !== null) return false
    host.exit = exit
    context.points.observe("exited", { rank: host.rank, detail: exit.reason })
    yield* sendFinal(context.links, host.replyLink, { _tag: "Exited", rank: host.rank, exit }, { rank: host.rank })
    yield* Queue.shutdown(host.mailbox)
    return true
  })

const crashExit = (reason: string): ExitInfo => ({ code: 1, signal: null, reason })

/**
 * The serving loop of one rank process: decode, apply faults, dispatch, reply.
 *
 * Calls are served one at a time, in the order they arrived, as a real worker process serves its
 * queue: a hung or slow call holds up every later call of this rank. Each wave message is decoded
 * with `WorkerCall` (the allowlist), so a method outside the contract gets a typed
 * `UnknownMethod` reply and a malformed call a typed `MalformedMessage` reply, in order, and the
 * rank lives on. Control messages (truth, inject, heal) are answered at once, outside the queue:
 * the heal that releases a hung call must not wait behind it.
 *
 * After a call that changed the rank's state the host sends its new state before the reply, so
 * the parent still knows what a rank held after it crashed or was killed (the process and its
 * memory are gone by then).
 *
 * Serving is synchronous whenever the call is: a worker effect that completes without waiting is
 * run and answered within the message's own event, with no promise in between. Ranks share the
 * machine's cores with each other and with the parent, so every microsecond a rank spends per
 * call shows up in the collective's round trip (bench/process-collective.bench.ts).
 */
import { Cause, Effect, Exit, Result, Schema, SchemaIssue } from "effect"
import { MalformedMessage, ModelError, UnknownMethod, type WorkerError } from "../../core/errors.ts"
import type { ReplyResult } from "../../core/transport.ts"
import { dispatch, WorkerCall, type WorkerMethod, workerMethods, type WorkerValue } from "../../core/worker.ts"
import { decodeParentMessage, encodeReplyResult, type ParentMessage, type RankWireMessage } from "./protocol.ts"
import type { FiredFault, RankFaults } from "./rank-faults.ts"
import type { HostedWorker } from "./worker-kinds.ts"

/** What the host needs from its process; a test hands in a fake. */
export interface RankIo {
  /** Queues one message to the parent (IPC keeps the order of what was queued). */
  readonly post: (message: RankWireMessage) => void
  /**
   * Tells the parent why the rank is about to exit (an `exiting` note, after everything posted
   * before it) and resolves once the parent holds it, or a bound passed: then the exit may follow.
   */
  readonly noteExit: (reason: string) => Promise<void>
  /** Ends the process with `code`. */
  readonly exit: (code: number) => void
  /** Installs (true) or removes (false) the SIGTERM handler that `ignoreTerminate` needs. */
  readonly holdTerminate: (hold: boolean) => void
  /** Writes a diagnostic for people (the rank's stderr, whose tail the parent keeps). */
  readonly report: (text: string) => void
}

export interface RankHost {
  /** Hands the host one message from the parent, as it arrived. */
  readonly receive: (raw: unknown) => void
}

/** One queued wave: its id, and its call as it arrived (decoded when served, in order). */
interface QueuedWave {
  readonly waveId: number
  readonly call: unknown
}

/** Serving one wave either finished synchronously (undefined) or finishes with this promise. */
type Served = Promise<void> | undefined

interface ServeContext {
  readonly rank: number
  readonly hosted: HostedWorker
  readonly faults: RankFaults
  readonly io: RankIo
  readonly exitWith: (code: number, reason: string) => Promise<void>
}

/** Methods whose success may change what the rank holds. */
const stateChanging: ReadonlySet<WorkerMethod> = new Set(["load", "sleep", "wakeUp", "addLora", "removeLora", "pinLora"])

export const makeRankHost = (rank: number, hosted: HostedWorker, faults: RankFaults, io: RankIo): RankHost => {
  const mailbox: Array<QueuedWave> = []
  let serving = false
  let exiting = false

  const exitWith = async (code: number, reason: string) => {
    exiting = true
    mailbox.length = 0
    await io.noteExit(reason)
    io.exit(code)
  }

  const context: ServeContext = { rank, hosted, faults, io, exitWith }

  // Serves queued waves in order until the mailbox is empty. Only one drain runs at a time: a
  // call that must wait (slow, hung, asynchronous) pauses the drain, which resumes when it ends.
  const drain = (): void => {
    while (mailbox.length > 0 && !exiting) {
      const pending = serve(context, mailbox.shift()!)
      if (pending !== undefined) return void pending.then(drain)
    }
    serving = false
  }

  const receive = (raw: unknown) => {
    if (exiting) return
    const decoded = decodeParentMessage(raw)
    if (Result.isFailure(decoded)) return io.post({ t: "refused", reason: decoded.failure })
    const message = decoded.success
    if (message.t === "exitNoted") return // the process's io waits for it (noteExit), not the host
    if (message.t === "control") return control(context, message)
    mailbox.push({ waveId: message.waveId, call: message.call })
    if (serving) return
    serving = true
    drain()
  }

  io.holdTerminate(faults.ignoresTerminate())
  return { receive }
}

// ---------------------------------------------------------------------------------------------
// Serving one wave: decode, fault points in the order a real failure would hit them, apply.
// ---------------------------------------------------------------------------------------------

const serve = (context: ServeContext, wave: QueuedWave): Served => {
  const { faults, rank } = context
  const decoded = decodeCall(wave.call)
  if (Result.isFailure(decoded)) return reply(context, wave, { _tag: "Failed", error: decoded.failure })
  const call = decoded.success
  const fault = faults.take(call.method)
  switch (fault?.kind) {
    case "throw":
      return reply(context, wave, { _tag: "Failed", error: new ModelError({ reason: `injected fault: throw in ${call.method} on rank ${rank}` }) })
    case "crashBeforeApply":
    case "crashDuringShutdown":
      return context.exitWith(1, `crashed before applying ${call.method} on rank ${rank} (injected)`)
    case "hang":
      // Only a heal ends this wait, or a signal ends the process; the event loop stays free, so
      // control messages and the parent-death guard keep working meanwhile.
      return faults.healed().then(() => apply(context, wave, call, fault))
    case "slow":
      return new Promise<void>((resolve) => setTimeout(resolve, fault.delayMs)).then(() => apply(context, wave, call, fault))
  }
  return apply(context, wave, call, fault)
}

/** Runs the call on the worker: synchronously when the worker's effect is synchronous. */
const apply = (context: ServeContext, wave: QueuedWave, call: WorkerCall, fault: FiredFault | undefined): Served => {
  const effect: Effect.Effect<WorkerValue, WorkerError> = fault?.kind === "oomOnWake"
    ? context.hosted.wakeUpOutOfMemory()
    : dispatch(context.hosted.worker, call)
  const fiber = Effect.runFork(effect)
  const exit = fiber.pollUnsafe()
  if (exit !== undefined) return answer(context, wave, call, fault, exit)
  return new Promise<Served>((resolve) => fiber.addObserver((later) => resolve(answer(context, wave, call, fault, later))))
    .then((served) => served)
}

/**
 * Answers a call that ran. A defect (a bug in the worker, an assertion) is not an answer: the
 * rank reports it on stderr and exits 1, so the parent sees a crash with the cause.
 */
const answer = (
  context: ServeContext,
  wave: QueuedWave,
  call: WorkerCall,
  fault: FiredFault | undefined,
  exit: Exit.Exit<WorkerValue, WorkerError>
): Served => {
  const result = resultOf(exit)
  if (result === undefined) {
    context.io.report(`rank ${context.rank}: worker defect in ${call.method}\n${Cause.pretty((exit as Exit.Failure<WorkerValue, WorkerError>).cause)}\n`)
    return context.exitWith(1, `worker defect in ${call.method} (see the rank's stderr)`)
  }
  if (stateChanging.has(call.method)) context.io.post({ t: "state", state: context.hosted.state() })
  if (fault?.kind === "crashAfterApply") return context.exitWith(1, `crashed after applying ${call.method} on rank ${context.rank} (injected)`)
  if (fault?.kind !== "dropReply") reply(context, wave, result)
  if (fault?.kind === "duplicateReply") reply(context, wave, result)
  if (call.method === "shutdown") return context.exitWith(0, "shutdown")
  return undefined
}

const resultOf = (exit: Exit.Exit<WorkerValue, WorkerError>): ReplyResult | undefined => {
  if (Exit.isSuccess(exit)) return { _tag: "Ok", value: exit.value }
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  return failure ? { _tag: "Failed", error: failure.error } : undefined
}

const reply = (context: ServeContext, wave: QueuedWave, result: ReplyResult): undefined =>
  void context.io.post({ t: "reply", waveId: wave.waveId, result: encodeReplyResult(result) })

const decodeWorkerCall = Schema.decodeUnknownResult(WorkerCall)
const formatIssue = SchemaIssue.makeFormatterDefault()

/** The call, or the typed error a rank answers for a method it does not know or a bad call. */
export const decodeCall = (input: unknown): Result.Result<WorkerCall, UnknownMethod | MalformedMessage> => {
  const method = typeof input === "object" && input !== null ? (input as { readonly method?: unknown }).method : undefined
  if (typeof method === "string" && !(workerMethods as ReadonlyArray<string>).includes(method)) {
    return Result.fail(new UnknownMethod({ method }))
  }
  const decoded = decodeWorkerCall(input)
  return Result.isFailure(decoded)
    ? Result.fail(new MalformedMessage({ reason: `call: ${formatIssue(decoded.failure.issue)}` }))
    : Result.succeed(decoded.success)
}

// ---------------------------------------------------------------------------------------------
// Control messages.
// ---------------------------------------------------------------------------------------------

const control = (context: ServeContext, message: Extract<ParentMessage, { readonly t: "control" }>): void => {
  const { faults, io, rank } = context
  const acknowledge = (reason?: string) =>
    io.post(reason === undefined ? { t: "control", id: message.id, ok: true } : { t: "control", id: message.id, ok: false, reason })
  switch (message.op) {
    case "truth":
      return io.post({ t: "control", id: message.id, ok: true, state: context.hosted.state() })
    case "inject":
      if (message.fault.rank !== rank) return acknowledge(`fault for rank ${message.fault.rank} reached rank ${rank}`)
      faults.inject(message.fault)
      io.holdTerminate(faults.ignoresTerminate())
      return acknowledge()
    case "heal":
      faults.heal()
      io.holdTerminate(false)
      return acknowledge()
  }
}

/**
 * Every tagged error the public API can fail with.
 *
 * Worker errors cross a process or network boundary (a rank replies with one), so they are
 * `Schema.TaggedError`s with a schema that decodes them from the wire. Errors raised and handled
 * inside the engine process are plain `Data.TaggedError`s. Errors carry fields, not sentences;
 * the `message` getter renders the fields for people. Identity is the `_tag`, never `instanceof`.
 */
import { Data, Schema } from "effect"
import { type CollectiveResult, CollectiveRpcError } from "./control.ts"

// ---------------------------------------------------------------------------------------------
// Worker errors: what one rank can answer instead of a value. They cross the wire.
// ---------------------------------------------------------------------------------------------

/** The model could not be loaded (missing or corrupt weights, bad configuration). */
export class ModelLoadError extends Schema.TaggedError<ModelLoadError>()("ModelLoadError", {
  reason: Schema.String
}) {
  override get message() { return `model load failed: ${this.reason}` }
}

/** The rank cannot allocate what the operation needs. */
export class OutOfMemory extends Schema.TaggedError<OutOfMemory>()("OutOfMemory", {
  requestedBytes: Schema.Number,
  availableBytes: Schema.Number
}) {
  override get message() {
    return `out of memory: requested ${this.requestedBytes} bytes, ${this.availableBytes} available`
  }
}

/** The model failed while computing (the rank stays alive). */
export class ModelError extends Schema.TaggedError<ModelError>()("ModelError", {
  reason: Schema.String
}) {
  override get message() { return `model error: ${this.reason}` }
}

/** `execute` reached a rank whose weights sleep. */
export class WorkerAsleep extends Schema.TaggedError<WorkerAsleep>()("WorkerAsleep", {
  level: Schema.Number
}) {
  override get message() { return `worker is asleep at level ${this.level}` }
}

/** `sleep` reached a rank that already sleeps. */
export class AlreadyAsleep extends Schema.TaggedError<AlreadyAsleep>()("AlreadyAsleep", {
  level: Schema.Number
}) {
  override get message() { return `worker already asleep at level ${this.level}` }
}

/** `wakeUp` named tags that do not cover every memory pool that was put to sleep. */
export class IncompleteWake extends Schema.TaggedError<IncompleteWake>()("IncompleteWake", {
  missingTags: Schema.Array(Schema.String)
}) {
  override get message() { return `wake tags do not cover what slept; missing: ${this.missingTags.join(", ")}` }
}

/** `wakeUp` reached a rank that is awake: a typed no-op, never a crash. */
export class NotAsleep extends Schema.TaggedError<NotAsleep>()("NotAsleep", {}) {
  override get message() { return "worker is not asleep" }
}

/** The model has no LoRA manager: the clear answer that replaces upstream's AttributeError. */
export class LoraUnsupported extends Schema.TaggedError<LoraUnsupported>()("LoraUnsupported", {
  method: Schema.String
}) {
  override get message() { return `${this.method}: this model does not support LoRA adapters` }
}

/** The adapter binds no layer, has a bad shape, or names a path outside the adapter directory. */
export class LoraInvalid extends Schema.TaggedError<LoraInvalid>()("LoraInvalid", {
  adapterId: Schema.Number,
  reason: Schema.String
}) {
  override get message() { return `adapter ${this.adapterId} is invalid: ${this.reason}` }
}

/** `removeLora`/`pinLora` named an adapter the rank does not hold. */
export class LoraNotFound extends Schema.TaggedError<LoraNotFound>()("LoraNotFound", {
  adapterId: Schema.Number
}) {
  override get message() { return `adapter ${this.adapterId} is not loaded` }
}

/** The rank's own health check failed. */
export class Unhealthy extends Schema.TaggedError<Unhealthy>()("Unhealthy", {
  reason: Schema.String
}) {
  override get message() { return `unhealthy: ${this.reason}` }
}

/** A wire message named a method outside the Worker contract's allowlist. */
export class UnknownMethod extends Schema.TaggedError<UnknownMethod>()("UnknownMethod", {
  method: Schema.String
}) {
  override get message() { return `unknown worker method '${this.method}'` }
}

/** A wire message (call or reply) did not decode; `reason` says where and why. */
export class MalformedMessage extends Schema.TaggedError<MalformedMessage>()("MalformedMessage", {
  reason: Schema.String
}) {
  override get message() { return `malformed message: ${this.reason}` }
}

/** Every error a rank can reply with, as one schema for decoding replies from the wire. */
export const WorkerError = Schema.Union([
  ModelLoadError, OutOfMemory, ModelError, WorkerAsleep, AlreadyAsleep, IncompleteWake, NotAsleep,
  LoraUnsupported, LoraInvalid, LoraNotFound, Unhealthy, UnknownMethod, MalformedMessage
])
export type WorkerError = typeof WorkerError.Type

// ---------------------------------------------------------------------------------------------
// Executor errors: raised in the engine process.
// ---------------------------------------------------------------------------------------------

/** A rank died earlier, so the executor is failed and refuses every call at once. */
export class ExecutorDead extends Data.TaggedError("ExecutorDead")<{
  readonly method: string
  readonly deadRanks: ReadonlyArray<number>
}> {
  override get message() {
    return `${this.method}: executor is dead (rank ${this.deadRanks.join(", ")} died)`
  }
}

/** Too many waves are pending at once (`wavesInFlightMax`); the call was not sent. */
export class ExecutorBusy extends Data.TaggedError("ExecutorBusy")<{
  readonly method: string
  readonly wavesInFlightMax: number
}> {
  override get message() { return `${this.method}: ${this.wavesInFlightMax} waves already in flight` }
}

/** The executor was shut down; calls after that are refused. */
export class ExecutorClosed extends Data.TaggedError("ExecutorClosed")<{ readonly method: string }> {
  override get message() { return `${this.method}: executor is shut down` }
}

// ---------------------------------------------------------------------------------------------
// Engine errors.
// ---------------------------------------------------------------------------------------------

/** The engine was closed; the request or operation was not run. */
export class EngineClosed extends Data.TaggedError("EngineClosed")<{ readonly operation: string }> {
  override get message() { return `${this.operation}: engine is closed` }
}

/** The engine sleeps; wake it before submitting requests. */
export class EngineAsleep extends Data.TaggedError("EngineAsleep")<{ readonly operation: string }> {
  override get message() { return `${this.operation}: engine is asleep; call wakeUp first` }
}

/**
 * Ranks hold different state that the engine could not repair. Work that depends on that state
 * is refused until a control operation reconciles it.
 */
export class EngineDegraded extends Data.TaggedError("EngineDegraded")<{
  readonly operation: string
  readonly divergentRanks: ReadonlyArray<number>
  readonly reason: string
}> {
  override get message() {
    return `${this.operation}: engine is degraded (ranks ${this.divergentRanks.join(", ")} diverge: ${this.reason})`
  }
}

/** The admission queue is at its capacity. */
export class QueueFull extends Data.TaggedError("QueueFull")<{ readonly capacity: number }> {
  override get message() { return `admission queue is full (capacity ${this.capacity})` }
}

/** A request with this id is still active. */
export class DuplicateRequest extends Data.TaggedError("DuplicateRequest")<{ readonly requestId: string }> {
  override get message() { return `request '${this.requestId}' is already active` }
}

/** No request with this id is known to the engine. */
export class UnknownRequest extends Data.TaggedError("UnknownRequest")<{ readonly requestId: string }> {
  override get message() { return `request '${this.requestId}' is not known` }
}

/** The request was aborted before it finished. */
export class RequestAborted extends Data.TaggedError("RequestAborted")<{ readonly requestId: string }> {
  override get message() { return `request '${this.requestId}' was aborted` }
}

// ---------------------------------------------------------------------------------------------
// Input errors: bad input gets a clear typed error and never reaches a rank.
// ---------------------------------------------------------------------------------------------

/** A request did not decode: `field` is its path (for example `lora.scale`), `rule` what it broke. */
export class InvalidRequest extends Data.TaggedError("InvalidRequest")<{
  readonly field: string
  readonly rule: string
}> {
  override get message() { return `invalid request: ${this.field}: ${this.rule}` }
}

/** A model's output (legacy dict or envelope) broke the output contract at `key`. */
export class OutputContractError extends Data.TaggedError("OutputContractError")<{
  readonly key: string
  readonly problem: string
}> {
  override get message() { return `output contract: ${this.key}: ${this.problem}` }
}

/**
 * A stateful control operation (addLora, removeLora, sleep, wakeUp) did not apply on every rank.
 * It carries the operation's per-rank outcomes (`cause`), what the engine did to undo the partial
 * effect (`compensation`), and the ranks that still diverge afterwards (empty when the undo
 * worked, in which case the engine stays consistent; else the engine is degraded).
 */
export class ControlFailed extends Data.TaggedError("ControlFailed")<{
  readonly operation: string
  /** The operation's own per-rank outcomes. */
  readonly result: CollectiveResult<unknown, unknown>
  readonly compensation: CompensationReport | undefined
  readonly divergentRanks: ReadonlyArray<number>
}> {
  override get message() {
    const undo = this.compensation === undefined
      ? "no compensation needed"
      : this.compensation.unrestoredRanks.length === 0
      ? `compensated with ${this.compensation.operation} on ranks ${this.compensation.ranks.join(", ")}`
      : `compensation ${this.compensation.operation} failed on ranks ${this.compensation.unrestoredRanks.join(", ")}${this.compensation.problem ? ` (${this.compensation.problem})` : ""}`
    const diverged = this.divergentRanks.length > 0 ? `; engine degraded, ranks ${this.divergentRanks.join(", ")} diverge` : ""
    return `${new CollectiveRpcError({ result: this.result }).message}; ${undo}${diverged}`
  }
}

/** What the engine did to undo a partially applied control operation. */
export interface CompensationReport {
  readonly operation: string
  /** Ranks the undo was sent to: those that applied, or may have applied, the operation. */
  readonly ranks: ReadonlyArray<number>
  /** Per-rank tags of the undo call's outcomes, when it ran. */
  readonly outcomes: ReadonlyArray<{ readonly rank: number; readonly tag: string }>
  readonly restoredRanks: ReadonlyArray<number>
  readonly unrestoredRanks: ReadonlyArray<number>
  /** Why the undo could not run or finish, if it could not. */
  readonly problem?: string | undefined
}

/**
 * The wire protocol between the parent (the executor's process) and one rank process.
 *
 * Two kinds of traffic share one IPC channel. Waves are the executor's collective calls: the
 * rank serves them one at a time, in order, and answers each with a reply tagged with its wave
 * id. Control messages (read the rank's ground truth, inject or heal a fault) are the test
 * author's hand: they bypass the rank's mailbox, so a hung call cannot block the heal that
 * releases it. Every message is decoded with a schema on the side that receives it, because a
 * process boundary is a trust boundary: a malformed message becomes a typed answer or a counted
 * `Malformed` event, never a crash of the receiver.
 */
import { Result, Schema, SchemaIssue } from "effect"
import { WorkerError } from "../../core/errors.ts"
import type { ReplyResult } from "../../core/transport.ts"
import { FaultSpecSchema, type FaultSpec } from "../sim/faults.ts"

/** What a rank reports as its ground truth; independent of the worker kind it hosts. */
export interface RankState {
  readonly loaded: boolean
  readonly asleep: boolean
  readonly sleepLevel: 1 | 2 | null
  readonly loras: ReadonlyArray<number>
  readonly usedBytes: number
}

const RankStateSchema = Schema.Struct({
  loaded: Schema.Boolean,
  asleep: Schema.Boolean,
  sleepLevel: Schema.NullOr(Schema.Literals([1, 2])),
  loras: Schema.Array(Schema.Int),
  usedBytes: Schema.Finite
})

// ---------------------------------------------------------------------------------------------
// Parent → rank.
// ---------------------------------------------------------------------------------------------

/** A control operation; the rank answers each with a `ControlAnswer` carrying the same id. */
export type ControlOp =
  | { readonly op: "truth" }
  | { readonly op: "inject"; readonly fault: FaultSpec }
  | { readonly op: "heal" }

export type ParentMessage =
  /** `call` stays unknown here: the rank decodes it with `WorkerCall`, to answer typed errors. */
  | { readonly t: "wave"; readonly waveId: number; readonly call: unknown }
  | ({ readonly t: "control"; readonly id: number } & ControlOp)
  /** The parent holds the rank's `exiting` note (and, the channel being ordered, all before it). */
  | { readonly t: "exitNoted" }

const ParentMessageSchema = Schema.Union([
  Schema.Struct({ t: Schema.Literal("wave"), waveId: Schema.Int, call: Schema.Unknown }),
  Schema.Struct({ t: Schema.Literal("control"), id: Schema.Int, op: Schema.Literal("truth") }),
  Schema.Struct({ t: Schema.Literal("control"), id: Schema.Int, op: Schema.Literal("inject"), fault: FaultSpecSchema }),
  Schema.Struct({ t: Schema.Literal("control"), id: Schema.Int, op: Schema.Literal("heal") }),
  Schema.Struct({ t: Schema.Literal("exitNoted") })
])

// ---------------------------------------------------------------------------------------------
// Rank → parent.
// ---------------------------------------------------------------------------------------------

/** A reply result as it crosses the wire: errors in their encoded (plain) form. */
export type WireReplyResult =
  | { readonly _tag: "Ok"; readonly value?: unknown }
  | { readonly _tag: "Failed"; readonly error: typeof WorkerError.Encoded }

export type ControlAnswer =
  | { readonly t: "control"; readonly id: number; readonly ok: true; readonly state?: RankState | undefined }
  | { readonly t: "control"; readonly id: number; readonly ok: false; readonly reason: string }

export type RankMessage =
  | { readonly t: "ready"; readonly rank: number; readonly pid: number }
  | { readonly t: "reply"; readonly waveId: number; readonly result: ReplyResult }
  /** The rank's state after a call that changed it: the parent's memory of a rank that dies. */
  | { readonly t: "state"; readonly state: RankState }
  | ControlAnswer
  /** A message the rank could not attribute to a wave (no wave id): answered, never served. */
  | { readonly t: "refused"; readonly reason: string }
  /** Why the rank is about to exit on purpose (shutdown, an injected crash). */
  | { readonly t: "exiting"; readonly reason: string }

/** What a rank writes: a `RankMessage` whose reply carries its error in wire form. */
export type RankWireMessage =
  | Exclude<RankMessage, { readonly t: "reply" }>
  | { readonly t: "reply"; readonly waveId: number; readonly result: WireReplyResult }

const ReplyResultSchema = Schema.Union([
  // `value` is absent when a method answers nothing (JSON drops `undefined`).
  Schema.Struct({ _tag: Schema.Literal("Ok"), value: Schema.optionalKey(Schema.Unknown) }),
  Schema.Struct({ _tag: Schema.Literal("Failed"), error: WorkerError })
])

const RankMessageSchema = Schema.Union([
  Schema.Struct({ t: Schema.Literal("ready"), rank: Schema.Int, pid: Schema.Int }),
  Schema.Struct({ t: Schema.Literal("reply"), waveId: Schema.Int, result: ReplyResultSchema }),
  Schema.Struct({ t: Schema.Literal("state"), state: RankStateSchema }),
  Schema.Struct({ t: Schema.Literal("control"), id: Schema.Int, ok: Schema.Literal(true), state: Schema.optionalKey(RankStateSchema) }),
  Schema.Struct({ t: Schema.Literal("control"), id: Schema.Int, ok: Schema.Literal(false), reason: Schema.String }),
  Schema.Struct({ t: Schema.Literal("refused"), reason: Schema.String }),
  Schema.Struct({ t: Schema.Literal("exiting"), reason: Schema.String })
])

// ---------------------------------------------------------------------------------------------
// Decoding and encoding. Decoders never throw: a bad message is a `reason` string.
// ---------------------------------------------------------------------------------------------

const formatIssue = SchemaIssue.makeFormatterDefault()
const decodeParent = Schema.decodeUnknownResult(ParentMessageSchema)
const decodeRank = Schema.decodeUnknownResult(RankMessageSchema)
const encodeError = Schema.encodeSync(WorkerError)

/** Decodes what the parent sent; the rank answers a failure as a typed `MalformedMessage`. */
export const decodeParentMessage = (input: unknown): Result.Result<ParentMessage, string> =>
  Result.mapError(decodeParent(input), (error) => formatIssue(error.issue))

/** The parent's confirmation of an `exiting` note: checked before decoding, by the rank's process. */
export const isExitNoted = (input: unknown): boolean =>
  typeof input === "object" && input !== null && (input as { readonly t?: unknown }).t === "exitNoted"

/** Decodes what a rank sent; the parent turns a failure into a `Malformed` transport event. */
export const decodeRankMessage = (input: unknown): Result.Result<RankMessage, string> =>
  Result.map(
    Result.mapError(decodeRank(input), (error) => formatIssue(error.issue)),
    (message): RankMessage => message.t === "reply" && message.result._tag === "Ok" && !("value" in message.result)
      ? { ...message, result: { _tag: "Ok", value: undefined } }
      : message as RankMessage
  )

/** A reply result in its wire form: a worker error becomes plain data its schema can decode. */
export const encodeReplyResult = (result: ReplyResult): WireReplyResult =>
  result._tag === "Ok" ? { _tag: "Ok", value: result.value } : { _tag: "Failed", error: encodeError(result.error) }

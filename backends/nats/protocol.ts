/**
 * The wire protocol between an engine and its ranks over NATS: subjects and messages.
 *
 * Subjects, for a cluster id C:
 * - `rankwise.C.wave`: one publish per wave, heard by every rank; it names its target ranks.
 * - `rankwise.C.reply.<rank>`: everything a rank says to the engine, in the order it said it:
 *   heartbeats, replies, state reports, its exit note.
 * - `rankwise.C.control.<rank>`: the engine to one rank: control requests (truth, inject, heal,
 *   network faults; NATS request/reply), stop signals and notices (rejoin, kill).
 * - `rankwise.C.join`: a rank asks to join the engine's session (request/reply).
 * - `rankwise.C.engine`: the engine's own heartbeat, so a rank notices an engine that vanished.
 *
 * Rank messages reuse the process backend's protocol (backends/process/protocol.ts) inside an
 * envelope naming the session, rank and incarnation: the transport fences messages by it. Every
 * message is JSON, decoded with a schema on the side that receives it; a bad message is a reason
 * string, never a throw, because a network is a trust boundary.
 */
import { Result, Schema, SchemaIssue } from "effect"
import { FaultSpecSchema, type FaultSpec } from "../sim/faults.ts"
import { decodeRankMessage, type RankMessage, type RankWireMessage } from "../process/protocol.ts"

/** Cluster ids become subject tokens: no dots, no wildcards, no spaces. */
export const clusterIdPattern = /^[A-Za-z0-9_-]{1,64}$/

export interface ClusterSubjects {
  readonly wave: string
  readonly join: string
  readonly engine: string
  readonly replies: string
  readonly reply: (rank: number) => string
  readonly control: (rank: number) => string
}

export const subjectsOf = (cluster: string): ClusterSubjects => ({
  wave: `rankwise.${cluster}.wave`,
  join: `rankwise.${cluster}.join`,
  engine: `rankwise.${cluster}.engine`,
  replies: `rankwise.${cluster}.reply.*`,
  reply: (rank) => `rankwise.${cluster}.reply.${rank}`,
  control: (rank) => `rankwise.${cluster}.control.${rank}`
})

/** The rank a reply subject belongs to, or undefined when the subject is not one. */
export const rankOfReplySubject = (subject: string): number | undefined => {
  const token = subject.slice(subject.lastIndexOf(".") + 1)
  return /^\d{1,6}$/.test(token) ? Number(token) : undefined
}

// ---------------------------------------------------------------------------------------------
// Engine → ranks.
// ---------------------------------------------------------------------------------------------

const Session = Schema.String
const Rank = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** One wave for the ranks in `ranks`; `call` is decoded by the rank host (the allowlist). */
export interface WaveBroadcast {
  readonly t: "wave"
  readonly session: string
  readonly waveId: number
  readonly ranks: ReadonlyArray<number>
  readonly call: unknown
}

export type ProcessControlOp =
  | { readonly op: "truth" }
  | { readonly op: "inject"; readonly fault: FaultSpec }
  | { readonly op: "heal" }

/** A network fault a rank applies to its own link. */
export type NetworkFault =
  | { readonly fault: "disconnect"; readonly durationMs: number }
  | { readonly fault: "delay"; readonly delayMs: number }

export type EngineToRank =
  | ({ readonly t: "control"; readonly session: string; readonly id: number } & ProcessControlOp)
  | ({ readonly t: "network"; readonly session: string } & NetworkFault)
  | { readonly t: "signal"; readonly session: string; readonly signal: "terminate" | "kill" }
  /** `rejoin`: this engine does not count you as a member; `kill`: you were fenced after a kill. */
  | { readonly t: "notice"; readonly session: string; readonly notice: "rejoin" | "kill"; readonly reason: string }

const WaveBroadcastSchema = Schema.Struct({
  t: Schema.Literal("wave"), session: Session, waveId: Schema.Int, ranks: Schema.Array(Rank), call: Schema.Unknown
})

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const EngineToRankSchema = Schema.Union([
  Schema.Struct({ t: Schema.Literal("control"), session: Session, id: Schema.Int, op: Schema.Literal("truth") }),
  Schema.Struct({ t: Schema.Literal("control"), session: Session, id: Schema.Int, op: Schema.Literal("inject"), fault: FaultSpecSchema }),
  Schema.Struct({ t: Schema.Literal("control"), session: Session, id: Schema.Int, op: Schema.Literal("heal") }),
  Schema.Struct({ t: Schema.Literal("network"), session: Session, fault: Schema.Literal("disconnect"), durationMs: Millis }),
  Schema.Struct({ t: Schema.Literal("network"), session: Session, fault: Schema.Literal("delay"), delayMs: Millis }),
  Schema.Struct({ t: Schema.Literal("signal"), session: Session, signal: Schema.Literals(["terminate", "kill"]) }),
  Schema.Struct({ t: Schema.Literal("notice"), session: Session, notice: Schema.Literals(["rejoin", "kill"]), reason: Schema.String })
])

/** The engine's heartbeat: its session, and the liveness bounds it holds ranks to. */
export interface EngineBeat {
  readonly t: "engine"
  readonly session: string
  readonly silenceMaxMs: number
}

const EngineBeatSchema = Schema.Struct({ t: Schema.Literal("engine"), session: Session, silenceMaxMs: Millis })

// ---------------------------------------------------------------------------------------------
// Joining.
// ---------------------------------------------------------------------------------------------

export interface JoinRequest {
  readonly t: "join"
  readonly rank: number
  readonly incarnation: number
  /** The world size the rank was started for, when it was told one; the engine checks it. */
  readonly worldSize: number | null
  readonly pid: number
  readonly host: string
}

export type JoinAnswer =
  /** `standby`: accepted, but this session will not send it waves (its rank died here before). */
  | {
    readonly t: "joined"
    readonly session: string
    readonly worldSize: number
    readonly heartbeatEveryMs: number
    readonly silenceMaxMs: number
    readonly standby: boolean
  }
  /** `exit`: the rank should end its process (it was killed while unreachable). */
  | { readonly t: "refused"; readonly reason: string; readonly exit: boolean }

const JoinRequestSchema = Schema.Struct({
  t: Schema.Literal("join"), rank: Rank, incarnation: Schema.Int, worldSize: Schema.NullOr(Schema.Int), pid: Schema.Int, host: Schema.String
})

const JoinAnswerSchema = Schema.Union([
  Schema.Struct({
    t: Schema.Literal("joined"), session: Session, worldSize: Schema.Int, heartbeatEveryMs: Millis, silenceMaxMs: Millis, standby: Schema.Boolean
  }),
  Schema.Struct({ t: Schema.Literal("refused"), reason: Schema.String, exit: Schema.Boolean })
])

// ---------------------------------------------------------------------------------------------
// Rank → engine: an envelope around a heartbeat, an exit note or a process-protocol message.
// ---------------------------------------------------------------------------------------------

/** What a rank publishes on its reply subject. `session` is null before it has joined one. */
export interface RankEnvelope {
  readonly session: string | null
  readonly rank: number
  readonly incarnation: number
  readonly message: NatsRankWireMessage
}

export type NatsOnlyRankMessage =
  | { readonly t: "hb"; readonly seq: number }
  /** The rank's process is ending: how, so the engine reports the exit without waiting for silence. */
  | { readonly t: "exit"; readonly code: number | null; readonly signal: string | null; readonly reason: string }

export type NatsRankWireMessage = NatsOnlyRankMessage | Exclude<RankWireMessage, { readonly t: "ready" | "exiting" | "control" }>
export type NatsRankMessage = NatsOnlyRankMessage | Exclude<RankMessage, { readonly t: "ready" | "exiting" | "control" }>

const EnvelopeSchema = Schema.Struct({ session: Schema.NullOr(Session), rank: Rank, incarnation: Schema.Int, message: Schema.Unknown })

const NatsOnlyRankMessageSchema = Schema.Union([
  Schema.Struct({ t: Schema.Literal("hb"), seq: Schema.Int }),
  Schema.Struct({ t: Schema.Literal("exit"), code: Schema.NullOr(Schema.Int), signal: Schema.NullOr(Schema.String), reason: Schema.String })
])

// ---------------------------------------------------------------------------------------------
// Encoding and decoding. Decoders never throw: a bad message is a reason string.
// ---------------------------------------------------------------------------------------------

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const formatIssue = SchemaIssue.makeFormatterDefault()

export const encodeMessage = (message: unknown): Uint8Array => encoder.encode(JSON.stringify(message))

const parseJson = (bytes: Uint8Array): Result.Result<unknown, string> => {
  try {
    return Result.succeed(JSON.parse(decoder.decode(bytes)))
  } catch (error) {
    return Result.fail(`not JSON: ${(error as Error).message}`)
  }
}

const decodeWith = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, what: string) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (bytes: Uint8Array): Result.Result<S["Type"], string> =>
    Result.flatMap(parseJson(bytes), (value) => Result.mapError(decode(value), (error) => `${what}: ${formatIssue(error.issue)}`))
}

export const decodeWave = decodeWith(WaveBroadcastSchema, "wave") as (bytes: Uint8Array) => Result.Result<WaveBroadcast, string>
export const decodeEngineToRank = decodeWith(EngineToRankSchema, "control") as (bytes: Uint8Array) => Result.Result<EngineToRank, string>
export const decodeEngineBeat = decodeWith(EngineBeatSchema, "engine beat") as (bytes: Uint8Array) => Result.Result<EngineBeat, string>
export const decodeJoinRequest = decodeWith(JoinRequestSchema, "join") as (bytes: Uint8Array) => Result.Result<JoinRequest, string>
export const decodeJoinAnswer = decodeWith(JoinAnswerSchema, "join answer") as (bytes: Uint8Array) => Result.Result<JoinAnswer, string>
const decodeEnvelopeShape = decodeWith(EnvelopeSchema, "envelope")
const decodeNatsOnly = Schema.decodeUnknownResult(NatsOnlyRankMessageSchema)

/** A rank's message: the envelope, then its body by the process protocol or the NATS additions. */
export const decodeEnvelope = (bytes: Uint8Array): Result.Result<Omit<RankEnvelope, "message"> & { readonly message: NatsRankMessage }, string> =>
  Result.flatMap(decodeEnvelopeShape(bytes), (envelope) => {
    const kind = typeof envelope.message === "object" && envelope.message !== null ? (envelope.message as { readonly t?: unknown }).t : undefined
    const body: Result.Result<NatsRankMessage, string> = kind === "hb" || kind === "exit"
      ? Result.mapError(decodeNatsOnly(envelope.message), (error) => `rank message: ${formatIssue(error.issue)}`)
      : Result.flatMap(decodeRankMessage(envelope.message), (message) =>
        message.t === "ready" || message.t === "exiting" || message.t === "control"
          ? Result.fail(`rank message: '${message.t}' does not travel on the reply subject`)
          : Result.succeed(message))
    return Result.map(body, (message) => ({ ...envelope, message }))
  })

/** A control answer (the reply to a NATS request on a control subject). */
export const decodeControlAnswer = (bytes: Uint8Array) =>
  Result.flatMap(parseJson(bytes), (value) => Result.flatMap(decodeRankMessage(value), (message) =>
    message.t === "control" ? Result.succeed(message) : Result.fail(`expected a control answer, got '${message.t}'`)))

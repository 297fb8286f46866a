/**
 * What a rank process is told at start: who it is, which worker it hosts, and its faults.
 *
 * The parent passes it as one JSON argument on the rank's command line; the rank decodes it with
 * the schema below before doing anything else, so a bad configuration is a clear start failure
 * (exit code and message on stderr) rather than a rank that misbehaves later.
 */
import { Result, Schema, SchemaIssue } from "effect"
import type { ModelOptions } from "../harness.ts"
import { FaultSpecSchema, type FaultSpec } from "../sim/faults.ts"

/** Worker kinds a rank can host: the simulated model, or the ONNX Runtime model. */
export const workerKinds = ["sim", "onnx"] as const
export type WorkerKind = (typeof workerKinds)[number]

/**
 * What an `onnx` rank needs besides the common model knobs: where the model and adapters are,
 * which execution providers to try, and, for a world of two or more, the CFG channel between
 * ranks 0 and 1 (onnx-worker-kind.ts). It travels inside `model`, which every rank of a cluster
 * shares: each rank takes its role in the CFG split from its own rank number.
 */
export interface OnnxRankSettings {
  /** A directory written by `saveModel`. */
  readonly modelDir: string
  /** Adapters are read only from inside this directory. */
  readonly adapterDir: string
  /** Tried in order; the first that opens the model wins (default `["cuda", "cpu"]`). */
  readonly providers?: ReadonlyArray<string> | undefined
  /** Absent: no CFG split, every rank computes both branches of a guided batch. */
  readonly cfg?: {
    /** The Unix socket rank 0 listens on and rank 1 dials. */
    readonly socketPath: string
    /** Bound on waiting for the peer's branch at one step. */
    readonly exchangeTimeoutMs: number
    /** Bound on rank 1 reaching rank 0 during load. */
    readonly connectTimeoutMs: number
  } | undefined
}

/** The model knobs of a rank: the common ones, and the ONNX worker's own. */
export type RankModelOptions = ModelOptions & { readonly onnx?: OnnxRankSettings | undefined }

export interface RankConfig {
  readonly rank: number
  readonly worldSize: number
  readonly outputRank: number
  readonly workerKind: WorkerKind
  /** Knobs of the hosted model; each worker kind reads the ones that apply to it. */
  readonly model: RankModelOptions
  /** This rank's faults from the start (ignoreTerminate included). */
  readonly faults: ReadonlyArray<FaultSpec>
}

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const OptionalNumber = Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))
const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0))

const OnnxRankSettingsSchema = Schema.Struct({
  modelDir: Schema.String.check(Schema.isNonEmpty()),
  adapterDir: Schema.String.check(Schema.isNonEmpty()),
  providers: Schema.optionalKey(Schema.Array(Schema.String).check(Schema.isMinLength(1))),
  cfg: Schema.optionalKey(Schema.Struct({
    socketPath: Schema.String.check(Schema.isNonEmpty()),
    exchangeTimeoutMs: PositiveNumber,
    connectTimeoutMs: PositiveNumber
  }))
})

const RankConfigSchema = Schema.Struct({
  rank: NonNegativeInt,
  worldSize: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  outputRank: NonNegativeInt,
  // A string here, checked against `workerKinds` below, so an unknown kind gets its own message.
  workerKind: Schema.String,
  model: Schema.Struct({
    lora: Schema.optionalKey(Schema.Boolean),
    deviceBytes: OptionalNumber,
    weightsBytes: OptionalNumber,
    kvCacheBytes: OptionalNumber,
    loraBytes: OptionalNumber,
    invalidAdapterIds: Schema.optionalKey(Schema.Array(Schema.Int)),
    stepMs: OptionalNumber,
    onnx: Schema.optionalKey(OnnxRankSettingsSchema)
  }),
  faults: Schema.Array(FaultSpecSchema)
})

const formatIssue = SchemaIssue.makeFormatterDefault()

/** Decodes the rank's start configuration; the failure says which field is wrong. */
export const decodeRankConfig = (input: unknown): Result.Result<RankConfig, string> => {
  const decoded = Schema.decodeUnknownResult(RankConfigSchema)(input)
  if (Result.isFailure(decoded)) return Result.fail(formatIssue(decoded.failure.issue))
  const config = decoded.success
  if (!(workerKinds as ReadonlyArray<string>).includes(config.workerKind)) {
    return Result.fail(`unknown worker kind '${config.workerKind}' (known: ${workerKinds.join(", ")})`)
  }
  if (config.workerKind === "onnx" && config.model.onnx === undefined) {
    return Result.fail("worker kind 'onnx' needs model.onnx (modelDir, adapterDir)")
  }
  if (config.rank >= config.worldSize || config.outputRank >= config.worldSize) {
    return Result.fail(`rank ${config.rank} and output rank ${config.outputRank} must lie below the world size ${config.worldSize}`)
  }
  return Result.succeed(config as RankConfig)
}

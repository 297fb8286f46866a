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

/** Worker kinds a rank can host; the ONNX worker joins this list later. */
export const workerKinds = ["sim"] as const
export type WorkerKind = (typeof workerKinds)[number]

export interface RankConfig {
  readonly rank: number
  readonly worldSize: number
  readonly outputRank: number
  readonly workerKind: WorkerKind
  /** Knobs of the hosted model; each worker kind reads the ones that apply to it. */
  readonly model: ModelOptions
  /** This rank's faults from the start (ignoreTerminate included). */
  readonly faults: ReadonlyArray<FaultSpec>
}

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const OptionalNumber = Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))

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
    stepMs: OptionalNumber
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
  if (config.rank >= config.worldSize || config.outputRank >= config.worldSize) {
    return Result.fail(`rank ${config.rank} and output rank ${config.outputRank} must lie below the world size ${config.worldSize}`)
  }
  return Result.succeed(config as RankConfig)
}

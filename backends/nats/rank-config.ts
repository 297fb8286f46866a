/**
 * What a spawned rank is told at start: where the server is, which cluster, and its rank
 * configuration (the process backend's, so worker kinds and model knobs mean the same).
 *
 * The harness passes it as one JSON argument; secrets never travel there (a command line is
 * visible to every user of the machine): the token or credentials file arrives in the
 * environment (connection.ts, `natsEnvironment`).
 */
import { Result, Schema, SchemaIssue } from "effect"
import { decodeRankConfig, type RankConfig } from "../process/rank-config.ts"

export interface NatsRankConfig {
  readonly url: string
  readonly cluster: string
  readonly joinWaitMs: number
  /** No credentials: allowed on a loopback URL only (connection.ts). */
  readonly insecure: boolean
  readonly rank: RankConfig
}

const NatsRankConfigSchema = Schema.Struct({
  url: Schema.String,
  cluster: Schema.String,
  joinWaitMs: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  insecure: Schema.Boolean,
  rank: Schema.Unknown
})

const formatIssue = SchemaIssue.makeFormatterDefault()

/** Decodes the start configuration; the failure says which field is wrong. */
export const decodeNatsRankConfig = (input: unknown): Result.Result<NatsRankConfig, string> => {
  const decoded = Schema.decodeUnknownResult(NatsRankConfigSchema)(input)
  if (Result.isFailure(decoded)) return Result.fail(formatIssue(decoded.failure.issue))
  return Result.map(decodeRankConfig(decoded.success.rank), (rank) => ({ ...decoded.success, rank }))
}

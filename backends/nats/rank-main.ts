/**
 * The program of one rank spawned by the NATS harness (`child_process.fork`), the same rank as
 * `rankwise rank` (cli/rank.ts) without the flag parsing: its configuration is one JSON argument
 * (rank-config.ts), its secret is in the environment.
 *
 * Anything wrong before the rank is connected is a start failure: a message on stderr and a
 * non-zero exit code, which the harness reports with the tail of stderr.
 */
import { Result } from "effect"
import { resolveNatsAuth } from "./connection.ts"
import { clusterIdPattern } from "./protocol.ts"
import { decodeNatsRankConfig } from "./rank-config.ts"
import { runRankProcess } from "./rank-process.ts"

const exitCodes = { badConfiguration: 2, connectFailed: 1 } as const

const fail = (code: number, message: string): never => {
  process.stderr.write(`rankwise rank: ${message}\n`)
  process.exit(code)
}

const main = async () => {
  let parsed: unknown
  try {
    parsed = JSON.parse(process.argv[2] ?? "")
  } catch (error) {
    return fail(exitCodes.badConfiguration, `the start configuration is not JSON: ${(error as Error).message}`)
  }
  const decoded = decodeNatsRankConfig(parsed)
  if (Result.isFailure(decoded)) return fail(exitCodes.badConfiguration, `bad start configuration: ${decoded.failure}`)
  const config = decoded.success
  if (!clusterIdPattern.test(config.cluster)) return fail(exitCodes.badConfiguration, `bad cluster id '${config.cluster}'`)
  const auth = resolveNatsAuth({ url: config.url, insecure: config.insecure, env: process.env })
  if (auth._tag === "NatsAuthMissing") return fail(exitCodes.badConfiguration, auth.message)
  await runRankProcess({
    endpoint: { url: config.url, auth },
    cluster: config.cluster,
    rank: config.rank.rank,
    worldSize: config.rank.worldSize,
    outputRank: config.rank.outputRank,
    workerKind: config.rank.workerKind,
    model: config.rank.model,
    joinWaitMs: config.joinWaitMs,
    orphanGuard: true
  }).catch((error: unknown) => fail(exitCodes.connectFailed, (error as Error).message ?? String(error)))
}

await main()

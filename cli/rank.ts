/**
 * `rankwise rank`: serve one rank of a cluster from any machine that reaches a NATS server.
 *
 * It connects, joins the engine's session for `--cluster` (waiting up to `--join-timeout` for an
 * engine), serves calls with its worker, and heartbeats. `--model sim` (the default) hosts the
 * simulated model; `--model onnx` the ONNX Runtime model from `--model-dir` (written by `rankwise
 * model build`), reading adapters only from inside `--adapter-dir`. Over NATS the ranks may sit on
 * different hosts, so there is no CFG split: each rank computes both branches of a guided batch.
 * The rank runs until the engine shuts it down, a stop signal (SIGTERM, SIGINT), or a lost
 * server. Credentials come from `--token`, `--creds`, or the environment (RANKWISE_NATS_TOKEN,
 * RANKWISE_NATS_CREDS); without any it refuses to start unless `--insecure` is given and the URL
 * is loopback, so a rank is never opened to a network by accident. Exit codes: 2 bad usage or refused credentials, 1 could not connect,
 * 4 no engine accepted the join in time, 5 lost the server; 0 after a shutdown.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { resolveNatsAuth } from "../backends/nats/connection.ts"
import { clusterIdPattern } from "../backends/nats/protocol.ts"
import { runRankProcess } from "../backends/nats/rank-process.ts"
import { manifestFile } from "../backends/onnx/model.ts"
import type { OnnxRankSettings, WorkerKind } from "../backends/process/rank-config.ts"
import { type FlagSpec, parseDurationMs, parseFlags, parseInteger, renderFlags } from "./args.ts"
import type { Command, Io } from "./main.ts"

const EXIT_FAILURE = 1
const EXIT_USAGE = 2
/** Workers a rank over NATS can host from the command line. */
const rankModels: ReadonlyArray<WorkerKind> = ["sim", "onnx"]

const rankFlags: ReadonlyArray<FlagSpec> = [
  { name: "nats", value: true, help: "NATS server URL (a comma list for a cluster of servers)" },
  { name: "cluster", value: true, help: "cluster id shared with the engine (A-Z a-z 0-9 _ -)" },
  { name: "rank", value: true, help: "this rank's number" },
  { name: "world-size", value: true, help: "world size this rank expects; the engine refuses a mismatch", defaultText: "the engine's" },
  { name: "output-rank", value: true, help: "the rank whose execute answers the batch output", defaultText: "0" },
  { name: "model", value: true, help: `worker to host (${rankModels.join(", ")})`, defaultText: "sim" },
  { name: "model-dir", value: true, help: "onnx: the model directory (rankwise model build --out DIR); required with --model onnx" },
  { name: "adapter-dir", value: true, help: "onnx: adapters are read only from inside this directory", defaultText: "the model directory" },
  { name: "providers", value: true, help: "onnx: execution providers to try, in order", defaultText: "cuda,cpu" },
  { name: "token", value: true, help: "NATS auth token (or RANKWISE_NATS_TOKEN)" },
  { name: "creds", value: true, help: "NATS credentials file (or RANKWISE_NATS_CREDS)" },
  { name: "insecure", value: false, help: "no credentials; allowed on a loopback URL only" },
  { name: "join-timeout", value: true, help: "how long to wait for an engine to accept the join", defaultText: "5m" }
]

export const rankCommand: Command = {
  name: "rank",
  summary: "Serve one rank of a cluster over NATS (run it on any host that reaches the server)",
  usage: "--nats URL --cluster ID --rank N [--world-size W] [--model sim | --model onnx --model-dir DIR [--adapter-dir DIR]] [--token T | --creds FILE] [--insecure]",
  help: renderFlags(rankFlags),
  run: async (args, { io }) => {
    const options = rankOptions(args)
    if (typeof options === "string") return usageError(io, options)
    try {
      await runRankProcess(options)
    } catch (error) {
      io.stderr(`rankwise rank: ${(error as Error).message ?? String(error)}\n`)
      return EXIT_FAILURE
    }
    io.stderr(`rankwise rank: rank ${options.rank} of cluster ${options.cluster} connected to ${options.endpoint.url}; joining\n`)
    // The rank now lives on the event loop and ends its process itself (shutdown, a signal, a
    // lost server, a join timeout): this command never returns on its own.
    return new Promise<number>(() => {})
  }
}

/** The rank's options from its flags and the environment, or a usage message. */
export const rankOptions = (args: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>> = process.env) => {
  const parsed = parseFlags(args, rankFlags)
  if (typeof parsed === "string") return parsed
  const text = (name: string) => { const value = parsed.get(name); return typeof value === "string" ? value : undefined }
  const url = text("nats")
  const cluster = text("cluster")
  if (url === undefined) return "--nats URL is required"
  if (cluster === undefined || !clusterIdPattern.test(cluster)) return "--cluster ID is required: 1-64 of A-Z a-z 0-9 _ -"
  if (text("rank") === undefined) return "--rank N is required"
  const rank = parseInteger(text("rank")!, "rank", 0, 65_535)
  const worldSize = text("world-size") === undefined ? undefined : parseInteger(text("world-size")!, "world-size", 1, 65_536)
  const outputRank = parseInteger(text("output-rank") ?? "0", "output-rank", 0, 65_535)
  const joinWaitMs = parseDurationMs(text("join-timeout") ?? "5m", "join-timeout")
  for (const value of [rank, worldSize, outputRank, joinWaitMs]) if (typeof value === "string") return value
  if (worldSize !== undefined && (rank as number) >= (worldSize as number)) return `--rank ${rank} must lie below --world-size ${worldSize}`
  const model = text("model") ?? "sim"
  if (!(rankModels as ReadonlyArray<string>).includes(model)) return `--model must be one of ${rankModels.join(", ")}, got '${model}'`
  const onnx = onnxSettings(model, text("model-dir"), text("adapter-dir"), text("providers"))
  if (typeof onnx === "string") return onnx
  const auth = resolveNatsAuth({ url, token: text("token"), credsFile: text("creds"), insecure: parsed.has("insecure"), env })
  if (auth._tag === "NatsAuthMissing") return auth.message
  return {
    endpoint: { url, auth },
    cluster,
    rank: rank as number,
    worldSize: worldSize as number | undefined,
    outputRank: outputRank as number,
    workerKind: model as WorkerKind,
    model: onnx === undefined ? {} : { onnx },
    joinWaitMs: joinWaitMs as number,
    // Acts only when started with an IPC channel (spawned by a program): never at a terminal.
    orphanGuard: true
  }
}

/**
 * The ONNX worker's settings, checked before the rank joins: a missing model directory is a usage
 * error now, not a failed `load` after an engine has accepted the rank.
 */
const onnxSettings = (
  model: string,
  modelDir: string | undefined,
  adapterDir: string | undefined,
  providers: string | undefined
): OnnxRankSettings | undefined | string => {
  if (model !== "onnx") {
    const stray = [["model-dir", modelDir], ["adapter-dir", adapterDir], ["providers", providers]].find(([, value]) => value !== undefined)
    return stray === undefined ? undefined : `--${stray[0]} applies to --model onnx only`
  }
  if (modelDir === undefined) return "--model onnx needs --model-dir DIR (write one with: rankwise model build --out DIR)"
  if (!existsSync(join(modelDir, manifestFile))) return `--model-dir ${modelDir} holds no ${manifestFile} (write one with: rankwise model build --out DIR)`
  const adapters = adapterDir ?? modelDir
  if (!existsSync(adapters)) return `--adapter-dir ${adapters} does not exist`
  const providerList = providers?.split(",").map((name) => name.trim()).filter((name) => name !== "")
  if (providerList !== undefined && providerList.length === 0) return "--providers names at least one provider (e.g. cuda,cpu)"
  return { modelDir, adapterDir: adapters, providers: providerList }
}

const usageError = (io: Io, message: string): number => {
  io.stderr(`rankwise rank: ${message}\nRun 'rankwise help rank' for the options.\n`)
  return EXIT_USAGE
}

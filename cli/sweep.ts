/**
 * `rankwise sweep` and `rankwise sweep-worker`: simulation sweeps spread over hosts through a
 * NATS server with JetStream (`nats-server -js`).
 *
 * `sweep` cuts `--seeds` seeds into ranges of `--range-size`, queues them, prints progress on
 * stderr as per-seed results arrive, then the merged coverage table and every failing seed's
 * replay line; it exits 0 iff every seed arrived and passed (1 otherwise, 2 on bad usage). Any
 * number of `sweep-worker` processes, on any hosts, take ranges and run them; a worker that dies
 * mid-range has its range redelivered after `--ack-wait`. Credentials as for `rankwise rank`.
 */
import type { NatsConnection } from "nats"
import { connectDefaults, connectNats, describeNatsError, resolveNatsAuth } from "../backends/nats/connection.ts"
import { runSweepCoordinator, type SweepOutcome, sweepFarmDefaults } from "../backends/nats/sweep-farm.ts"
import { startSweepWorker } from "../backends/nats/sweep-worker.ts"
import { type FaultSelection, swarmFaultKinds, type SwarmFaultKind } from "../simulator/swarm.ts"
import { renderCoverage } from "../simulator/sweep.ts"
import { type FlagSpec, parseDurationMs, parseFlags, type ParsedFlags, parseInteger, renderFlags } from "./args.ts"
import type { Command, Io } from "./main.ts"

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2
/** How long a stopped worker may take to leave its loop before the process exits anyway. */
const stopGraceMs = 5_000

const connectionFlags: ReadonlyArray<FlagSpec> = [
  { name: "nats", value: true, help: "NATS server URL; the server runs with JetStream (-js)" },
  { name: "token", value: true, help: "NATS auth token (or RANKWISE_NATS_TOKEN)" },
  { name: "creds", value: true, help: "NATS credentials file (or RANKWISE_NATS_CREDS)" },
  { name: "insecure", value: false, help: "no credentials; allowed on a loopback URL only" }
]

const sweepFlags: ReadonlyArray<FlagSpec> = [
  ...connectionFlags,
  { name: "seeds", value: true, help: "how many seeds to run" },
  { name: "base-seed", value: true, help: "the first seed", defaultText: "1" },
  { name: "ranks", value: true, help: "world size of every simulated run", defaultText: "4" },
  { name: "duration", value: true, help: "virtual duration of each run's fault phase", defaultText: "10s" },
  { name: "faults", value: true, help: `swarm, none, or a comma list of ${swarmFaultKinds.join(", ")}`, defaultText: "swarm" },
  { name: "range-size", value: true, help: "seeds per work item", defaultText: "10" },
  { name: "ack-wait", value: true, help: "how long a worker may go silent on a range before it is redelivered", defaultText: "60s" },
  { name: "time-limit", value: true, help: "wall-clock bound for the whole sweep", defaultText: "30m" },
  { name: "json", value: false, help: "print the merged report and per-seed results as JSON" }
]

const workerFlags: ReadonlyArray<FlagSpec> = [
  ...connectionFlags,
  { name: "idle-exit", value: true, help: "exit after this long without work", defaultText: "never" },
  { name: "ranges", value: true, help: "exit after this many ranges", defaultText: "no limit" }
]

export const sweepCommand: Command = {
  name: "sweep",
  summary: "Run a simulation sweep across hosts: ranges of seeds on a NATS work queue, results merged",
  usage: "--nats URL --seeds N [--base-seed S] [--ranks R] [--duration D] [--range-size K]",
  help: renderFlags(sweepFlags),
  run: async (args, { io }) => {
    const parsed = parseFlags(args, sweepFlags)
    if (typeof parsed === "string") return usageError(io, "sweep", parsed)
    const options = sweepOptions(parsed)
    if (typeof options === "string") return usageError(io, "sweep", options)
    const connection = await connect(io, "sweep", parsed, "rankwise-sweep")
    if (typeof connection === "number") return connection
    try {
      const progressEvery = Math.max(1, Math.floor(options.plan.seeds / 20))
      const outcome = await runSweepCoordinator(connection, options.plan, {
        ackWaitMs: options.ackWaitMs,
        timeLimitMs: options.timeLimitMs,
        onResult: (result, progress) => {
          if (!progress.fresh) return
          if (result.status !== "ok" || progress.received % progressEvery === 0 || progress.received === progress.expected) {
            io.stderr(`sweep: ${progress.received}/${progress.expected} seeds${result.status !== "ok" ? ` (seed ${result.seed} failed: ${result.status})` : ""}\n`)
          }
        }
      })
      io.stdout(parsed.has("json") ? `${JSON.stringify(outcome, null, 2)}\n` : renderOutcome(outcome))
      return outcome.missingSeeds.length === 0 && outcome.report.failures.length === 0 ? EXIT_OK : EXIT_FAILURE
    } finally {
      await connection.close().catch(() => undefined)
    }
  }
}

export const sweepWorkerCommand: Command = {
  name: "sweep-worker",
  summary: "Take seed ranges from a NATS sweep queue and run them (start any number, on any hosts)",
  usage: "--nats URL [--token T | --creds FILE] [--idle-exit D] [--ranges N]",
  help: renderFlags(workerFlags),
  run: async (args, { io }) => {
    const parsed = parseFlags(args, workerFlags)
    if (typeof parsed === "string") return usageError(io, "sweep-worker", parsed)
    const idleExitMs = parsed.has("idle-exit") ? parseDurationMs(String(parsed.get("idle-exit")), "idle-exit") : undefined
    const rangesMax = parsed.has("ranges") ? parseInteger(String(parsed.get("ranges")), "ranges", 1, 1_000_000) : undefined
    for (const value of [idleExitMs, rangesMax]) if (typeof value === "string") return usageError(io, "sweep-worker", value)
    const connection = await connect(io, "sweep-worker", parsed, "rankwise-sweep-worker")
    if (typeof connection === "number") return connection
    const worker = startSweepWorker(connection, {
      idleExitMs: idleExitMs as number | undefined,
      rangesMax: rangesMax as number | undefined,
      onSeed: (result) => io.stderr(`sweep-worker: seed ${result.seed} ${result.status}\n`),
      onProblem: (text) => io.stderr(`sweep-worker: ${text}\n`)
    })
    // A stop finishes the seed in hand, leaves the range unacked (it is redelivered) and exits;
    // if the loop does not notice within `stopGraceMs` (a wait stuck on a dead server), the
    // process exits anyway. Started by a program (an IPC channel), it stops when that goes away.
    const stop = () => {
      worker.stop()
      setTimeout(() => process.exit(EXIT_FAILURE), stopGraceMs).unref()
    }
    process.on("SIGTERM", stop)
    process.on("SIGINT", stop)
    if (typeof process.send === "function") process.on("disconnect", stop)
    try {
      const done = await worker.done
      io.stderr(`sweep-worker ${worker.name}: ${done.ranges} range(s), ${done.seeds} seed(s)\n`)
      return EXIT_OK
    } catch (error) {
      io.stderr(`sweep-worker: ${describeNatsError(error)}\n`)
      return EXIT_FAILURE
    } finally {
      process.removeListener("SIGTERM", stop)
      process.removeListener("SIGINT", stop)
      process.removeListener("disconnect", stop)
      await connection.close().catch(() => undefined)
    }
  }
}

const text = (parsed: ParsedFlags, name: string) => { const value = parsed.get(name); return typeof value === "string" ? value : undefined }

const sweepOptions = (parsed: ParsedFlags) => {
  if (text(parsed, "seeds") === undefined) return "--seeds N is required"
  const seeds = parseInteger(text(parsed, "seeds")!, "seeds", 1, 10_000_000)
  const baseSeed = parseInteger(text(parsed, "base-seed") ?? "1", "base-seed", 0, 0xffff_ffff)
  const ranks = parseInteger(text(parsed, "ranks") ?? "4", "ranks", 1, 64)
  const durationMs = parseDurationMs(text(parsed, "duration") ?? "10s", "duration")
  const rangeSize = parseInteger(text(parsed, "range-size") ?? "10", "range-size", 1, 100_000)
  const ackWaitMs = parseDurationMs(text(parsed, "ack-wait") ?? "60s", "ack-wait")
  const timeLimitMs = parseDurationMs(text(parsed, "time-limit") ?? "30m", "time-limit")
  const faults = parseFaults(text(parsed, "faults") ?? "swarm")
  for (const value of [seeds, baseSeed, ranks, durationMs, rangeSize, ackWaitMs, timeLimitMs, faults]) if (typeof value === "string") return value
  if (Math.ceil((seeds as number) / (rangeSize as number)) > sweepFarmDefaults.workItemsMax) {
    return `--seeds / --range-size makes more than ${sweepFarmDefaults.workItemsMax} ranges; raise --range-size`
  }
  if ((ackWaitMs as number) < 1_000) return "--ack-wait must be at least 1s"
  return {
    plan: {
      baseSeed: baseSeed as number, seeds: seeds as number, rangeSize: rangeSize as number,
      run: { ranks: ranks as number, durationMs: durationMs as number, faults: faults as FaultSelection }
    },
    ackWaitMs: ackWaitMs as number,
    timeLimitMs: timeLimitMs as number
  }
}

const parseFaults = (value: string): FaultSelection | string => {
  if (value === "swarm") return { _tag: "swarm" }
  if (value === "none") return { _tag: "none" }
  const kinds = value.split(",").map((kind) => kind.trim()).filter((kind) => kind.length > 0)
  const unknown = kinds.filter((kind) => !(swarmFaultKinds as ReadonlyArray<string>).includes(kind))
  if (unknown.length > 0 || kinds.length === 0) return `--faults: unknown fault kind(s) ${unknown.join(", ")}; known: ${swarmFaultKinds.join(", ")}`
  return { _tag: "kinds", kinds: kinds as ReadonlyArray<SwarmFaultKind> }
}

/** Connects with the command's credentials; answers an exit code when it cannot. */
const connect = async (io: Io, command: string, parsed: ParsedFlags, name: string): Promise<NatsConnection | number> => {
  const url = text(parsed, "nats")
  if (url === undefined) return usageError(io, command, "--nats URL is required")
  const auth = resolveNatsAuth({ url, token: text(parsed, "token"), credsFile: text(parsed, "creds"), insecure: parsed.has("insecure"), env: process.env })
  if (auth._tag === "NatsAuthMissing") return usageError(io, command, auth.message)
  try {
    return await connectNats({ url, auth }, { ...connectDefaults, name })
  } catch (error) {
    io.stderr(`rankwise ${command}: ${(error as Error).message}\n`)
    return EXIT_FAILURE
  }
}

const renderOutcome = (outcome: SweepOutcome): string => {
  const { report } = outcome
  const failing = report.failures.map((failure) =>
    `  seed ${failure.seed} ${failure.status}: ${failure.violation?.invariant ?? ""} ${failure.violation?.message ?? ""}\n    replay: ${failure.replay}`)
  const missing = outcome.missingSeeds.length > 0 ? [`missing seeds (no result within the time limit): ${outcome.missingSeeds.join(", ")}`] : []
  return [
    renderCoverage(report),
    ...(failing.length > 0 ? ["failing seeds:", ...failing, ""] : []),
    ...missing,
    `sweep ${outcome.sweepId}: ${report.seeds} seed(s) from ${report.baseSeed} in ${outcome.ranges} range(s): ${report.passed} passed, ${report.failures.length} failed, ${outcome.missingSeeds.length} missing; ${report.operations} operations over ${(report.virtualMs / 1000).toFixed(1)} virtual seconds; ${outcome.duplicates} duplicate result(s) ignored`,
    ""
  ].join("\n")
}

const usageError = (io: Io, command: string, message: string): number => {
  io.stderr(`rankwise ${command}: ${message}\nRun 'rankwise help ${command}' for the options.\n`)
  return EXIT_USAGE
}

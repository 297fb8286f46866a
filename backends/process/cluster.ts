/**
 * A process cluster: `worldSize` rank processes, the RankTransport that reaches them, and the
 * fault handle that hurts them for real.
 *
 * Starting is all or nothing: every rank must say `ready` within `readyTimeoutMs`, else the ranks
 * that did start are killed, their exits awaited, and the first failure (by rank) is reported
 * with its exit code and stderr. `dispose` kills whatever still runs and waits for every exit,
 * because a parent that leaves before its children exit leaves orphans (and on Node 20 a child
 * that outlives its parent's channel can crash on the way out).
 */
import { Context, Data, Effect, Layer } from "effect"
import { assert } from "../../core/assert.ts"
import type { ExitInfo } from "../../core/control.ts"
import { RankTransport, type RankTransportShape } from "../../core/transport.ts"
import type { FaultSpec, ModelOptions } from "../harness.ts"
import type { FaultSpec as SimFaultSpec, InvalidFaultSpec } from "../sim/faults.ts"
import { checkProcessFault, type UnsupportedFault } from "./faults.ts"
import { makeProcessFaultHandle, type ProcessFaultHandle } from "./fault-handle.ts"
import { type LaunchMode, type RankLaunch, resolveLaunch } from "./launch.ts"
import { makeRankControl } from "./rank-control.ts"
import type { RankConfig, WorkerKind } from "./rank-config.ts"
import { type RankEvents, type RankProcess, RankStartFailed, spawnRank } from "./rank-process.ts"
import { makeProcessTransport } from "./transport.ts"

export interface ProcessClusterOptions {
  readonly worldSize: number
  readonly outputRank?: number | undefined
  /** Which worker each rank hosts; "sim" (the simulated model) for now. */
  readonly workerKind?: WorkerKind | undefined
  readonly model?: ModelOptions | undefined
  /** Faults each rank starts with; a kind this backend cannot produce is refused. */
  readonly faults?: ReadonlyArray<FaultSpec> | undefined
  readonly readyTimeoutMs?: number | undefined
  readonly launch?: LaunchMode | undefined
  /** Unanswered calls a rank may hold before `send` answers it as unreachable. */
  readonly mailboxCapacity?: number | undefined
  readonly controlTimeoutMs?: number | undefined
  readonly killTimeoutMs?: number | undefined
  /** Another rank program to fork (tests use misbehaving ones); default rank-main. */
  readonly entry?: string | undefined
}

export const processClusterDefaults = {
  readyTimeoutMs: 20_000,
  mailboxCapacity: 256,
  controlTimeoutMs: 2_000,
  killTimeoutMs: 5_000,
  /** How long dispose waits for every rank to exit after SIGKILL. */
  disposeTimeoutMs: 10_000
} as const

export interface ProcessCluster {
  readonly transport: RankTransportShape
  readonly faults: ProcessFaultHandle
  readonly launch: RankLaunch
  readonly pids: ReadonlyArray<number>
  readonly exitOf: (rank: number) => ExitInfo | null
  /** Writes `message` to a rank's channel as is, bypassing every encoder: for tests of decoding. */
  readonly sendRaw: (rank: number, message: unknown) => boolean
  /** Kills every rank still running and waits for every exit. Idempotent. */
  readonly dispose: () => Promise<void>
}

export type ProcessClusterError = RankStartFailed | InvalidFaultSpec | UnsupportedFault

/** Starts every rank; rejects with a `ProcessClusterError` and leaves no process behind. */
export const startProcessCluster = async (options: ProcessClusterOptions): Promise<ProcessCluster> => {
  const worldSize = options.worldSize
  const outputRank = options.outputRank ?? 0
  assert(Number.isInteger(worldSize) && worldSize >= 1, "a cluster has at least one rank")
  assert(Number.isInteger(outputRank) && outputRank >= 0 && outputRank < worldSize, "the output rank lies within the world")
  const faults = options.faults ?? []
  for (const spec of faults) {
    const refused = checkProcessFault(spec as SimFaultSpec, worldSize)
    if (refused) throw refused
  }
  const launch = await resolveLaunch(options.launch ?? "auto", options.entry)
  const network = makeProcessTransport(worldSize, options.mailboxCapacity ?? processClusterDefaults.mailboxCapacity)
  const control = makeRankControl(worldSize)
  const events: RankEvents = {
    message: (rank, message) => {
      if (message.t === "reply") return network.reply({ rank, waveId: message.waveId, result: message.result })
      if (message.t === "state") return control.stateReported(rank, message.state)
      if (message.t === "control") return control.answered(rank, message)
      network.malformed(rank, `rank ${rank} refused a message: ${message.reason}`)
    },
    malformed: network.malformed,
    exited: (rank, exit) => {
      control.rankExited(rank)
      network.exited(rank, exit)
    }
  }
  const configOf = (rank: number): RankConfig => ({
    rank, worldSize, outputRank,
    workerKind: options.workerKind ?? "sim",
    model: options.model ?? {},
    faults: faults.filter((spec) => spec.rank === rank) as ReadonlyArray<SimFaultSpec>
  })
  const readyTimeoutMs = options.readyTimeoutMs ?? processClusterDefaults.readyTimeoutMs
  const ranks = await spawnAll(worldSize, (rank) => spawnRank({ config: configOf(rank), launch, readyTimeoutMs, events }))
  network.attach(ranks)
  control.attach(ranks)
  const handle = makeProcessFaultHandle(ranks, control, {
    controlTimeoutMs: options.controlTimeoutMs ?? processClusterDefaults.controlTimeoutMs,
    killTimeoutMs: options.killTimeoutMs ?? processClusterDefaults.killTimeoutMs
  })
  return {
    transport: network.transport,
    faults: handle,
    launch,
    pids: ranks.map((rank) => rank.pid),
    exitOf: (rank) => ranks[rank].exit(),
    sendRaw: (rank, message) => ranks[rank].send(message),
    dispose: () => killAll(ranks, processClusterDefaults.disposeTimeoutMs)
  }
}

/** Spawns every rank at once; if any fails, kills the rest and rejects with the lowest rank's failure. */
const spawnAll = async (worldSize: number, spawn: (rank: number) => Promise<RankProcess>): Promise<ReadonlyArray<RankProcess>> => {
  const settled = await Promise.allSettled(Array.from({ length: worldSize }, (_, rank) => spawn(rank)))
  const started = settled.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []))
  if (started.length === worldSize) return started
  await killAll(started, processClusterDefaults.disposeTimeoutMs)
  throw (settled.find((result) => result.status === "rejected") as PromiseRejectedResult).reason
}

/**
 * SIGCONT first (a stopped process only dies of SIGKILL, but continuing it costs nothing and lets
 * a pending SIGTERM land), then SIGKILL, then wait for every exit within the bound.
 */
const killAll = async (ranks: ReadonlyArray<RankProcess>, timeoutMs: number): Promise<void> => {
  for (const rank of ranks) {
    rank.signal("SIGCONT")
    rank.signal("SIGKILL")
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<"timeout">((resolve) => { timer = setTimeout(() => resolve("timeout"), timeoutMs) })
  const outcome = await Promise.race([Promise.all(ranks.map((rank) => rank.exited)), deadline])
  clearTimeout(timer)
  const left = ranks.filter((rank) => rank.exit() === null)
  if (outcome === "timeout" && left.length > 0) {
    throw new RanksSurvivedKill({ ranks: left.map((rank) => rank.rank), pids: left.map((rank) => rank.pid), timeoutMs })
  }
}

/** Ranks still ran `timeoutMs` after SIGKILL (a process stuck in the kernel): they need a person. */
export class RanksSurvivedKill extends Data.TaggedError("RanksSurvivedKill")<{
  readonly ranks: ReadonlyArray<number>
  readonly pids: ReadonlyArray<number>
  readonly timeoutMs: number
}> {
  override get message() {
    return `ranks ${this.ranks.join(", ")} (pids ${this.pids.join(", ")}) still run ${this.timeoutMs} ms after SIGKILL`
  }
}

// ---------------------------------------------------------------------------------------------
// As an Effect service.
// ---------------------------------------------------------------------------------------------

/** The ProcessCluster service: the fault handle and pids of the ranks behind `RankTransport`. */
export class ProcessRanks extends Context.Service<ProcessRanks, ProcessCluster>()("rankwise/ProcessRanks") {}

/** A process cluster whose ranks live as long as the current scope; closing it kills them. */
export const makeProcessCluster = (options: ProcessClusterOptions) =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => startProcessCluster(options), catch: (error) => error as ProcessClusterError }),
    (cluster) => Effect.promise(() => cluster.dispose())
  )

/** Provides `RankTransport` over rank processes, and the cluster itself as `ProcessRanks`. */
export const layerProcessCluster = (options: ProcessClusterOptions): Layer.Layer<RankTransport | ProcessRanks, ProcessClusterError> =>
  Layer.effectContext(Effect.map(makeProcessCluster(options), (cluster) =>
    Context.make(RankTransport, cluster.transport).pipe(Context.add(ProcessRanks, cluster))))

/**
 * A NATS cluster, engine side: a connection to the server, the transport, the ranks (spawned
 * here, or already running anywhere the server reaches), and the fault handle.
 *
 * Starting waits, within `joinTimeoutMs`, until every rank has joined; a spawned rank that exits
 * first fails the start at once with its stderr. A failed start leaves nothing behind: spawned
 * ranks are killed and awaited, the transport and connection are closed. `dispose` does the same
 * for a running cluster; ranks it did not spawn are the engine's close to stop (or their own
 * owners'), never this process's to kill.
 */
import { randomBytes } from "node:crypto"
import { Context, Data, Effect, Layer } from "effect"
import type { NatsConnection } from "nats"
import { assert } from "../../core/assert.ts"
import { RankTransport, type RankTransportShape } from "../../core/transport.ts"
import type { FaultSpec, ModelOptions } from "../harness.ts"
import { checkProcessFault, type UnsupportedFault } from "../process/faults.ts"
import { type LaunchMode, resolveLaunch } from "../process/launch.ts"
import type { WorkerKind } from "../process/rank-config.ts"
import type { FaultSpec as SimFaultSpec, InvalidFaultSpec } from "../sim/faults.ts"
import { connectDefaults, connectNats, type NatsAuth, type NatsConnectFailed } from "./connection.ts"
import { makeNatsFaultHandle, type NatsFaultHandle } from "./fault-handle.ts"
import { killLocalRanks, type LocalRank, natsRankEntryPath, spawnLocalRank } from "./launch.ts"
import { clusterIdPattern } from "./protocol.ts"
import { makeNatsTransport, type NatsTransport } from "./transport.ts"

export interface NatsClusterOptions {
  readonly url: string
  readonly auth: NatsAuth
  /** The cluster id; spawned clusters add a suffix per start, so starts never share subjects. */
  readonly cluster?: string | undefined
  readonly worldSize: number
  readonly outputRank?: number | undefined
  /** `spawn`: start the ranks here; `connect`: wait for ranks already running to join. */
  readonly ranks?: "spawn" | "connect" | undefined
  readonly workerKind?: WorkerKind | undefined
  readonly model?: ModelOptions | undefined
  /** Faults each rank gets once it has joined; a kind this backend cannot produce is refused. */
  readonly faults?: ReadonlyArray<FaultSpec> | undefined
  readonly heartbeatEveryMs?: number | undefined
  readonly silenceMaxMs?: number | undefined
  readonly joinTimeoutMs?: number | undefined
  readonly controlTimeoutMs?: number | undefined
  readonly mailboxCapacity?: number | undefined
  readonly launch?: LaunchMode | undefined
  /** Report a spawned rank's process exit from here (faster than its silence). Default true. */
  readonly observeLocalExits?: boolean | undefined
}

export const natsClusterDefaults = {
  heartbeatEveryMs: 250,
  silenceMaxMs: 3_000,
  joinTimeoutMs: 30_000,
  controlTimeoutMs: 2_000,
  mailboxCapacity: 256,
  /** How long a spawned rank waits for this engine to accept its join. */
  rankJoinWaitMs: 60_000,
  disposeTimeoutMs: 10_000
} as const

export interface NatsCluster {
  readonly transport: RankTransportShape
  readonly nats: NatsTransport
  readonly faults: NatsFaultHandle
  /** The cluster id on the wire. */
  readonly cluster: string
  /** Ranks this process spawned (empty when it connected to running ones). */
  readonly local: ReadonlyArray<LocalRank>
  readonly pids: ReadonlyArray<number>
  readonly connection: NatsConnection
  /** Kills what this process spawned, waits for every exit, closes transport and connection. Idempotent. */
  readonly dispose: () => Promise<void>
}

/** The cluster did not start: which ranks never joined, and what spawned ones said. */
export type NatsClusterError = NatsClusterStartFailed | NatsConnectFailed | InvalidFaultSpec | UnsupportedFault

export class NatsClusterStartFailed extends Data.TaggedError("NatsClusterStartFailed")<{
  readonly cluster: string
  readonly reason: string
  readonly missingRanks: ReadonlyArray<number>
}> {
  override get message() {
    return `NATS cluster ${this.cluster} did not start: ${this.reason}${this.missingRanks.length > 0 ? ` (ranks ${this.missingRanks.join(", ")} did not join)` : ""}`
  }
}

/** Starts (or gathers) every rank; rejects with `NatsClusterStartFailed` and leaves nothing behind. */
export const startNatsCluster = async (options: NatsClusterOptions): Promise<NatsCluster> => {
  const worldSize = options.worldSize
  assert(Number.isInteger(worldSize) && worldSize >= 1, "a cluster has at least one rank")
  const mode = options.ranks ?? "spawn"
  const cluster = clusterIdFor(options.cluster, mode)
  if (!clusterIdPattern.test(cluster)) throw new NatsClusterStartFailed({ cluster, reason: "a cluster id is 1-64 of A-Z a-z 0-9 _ -", missingRanks: [] })
  for (const spec of options.faults ?? []) {
    const refused = checkProcessFault(spec as SimFaultSpec, worldSize)
    if (refused) throw refused
  }
  const settings = settingsOf(options)
  const connection = await connectNats({ url: options.url, auth: options.auth }, { ...connectDefaults, name: `rankwise-engine-${cluster}` })
  const nats = makeNatsTransport(connection, {
    cluster, worldSize, heartbeatEveryMs: settings.heartbeatEveryMs, silenceMaxMs: settings.silenceMaxMs, mailboxCapacity: settings.mailboxCapacity
  })
  const local: Array<LocalRank> = []
  const dispose = once(async () => {
    await killLocalRanks(local, settings.disposeTimeoutMs)
    await nats.close()
    await connection.close().catch(() => undefined)
  })
  if (mode === "spawn") {
    try {
      local.push(...await spawnAll(options, cluster, worldSize))
    } catch (error) {
      await dispose()
      throw new NatsClusterStartFailed({ cluster, reason: `the ranks could not be spawned: ${(error as Error).message ?? String(error)}`, missingRanks: [] })
    }
  }
  const missing = await Promise.race([nats.awaitJoins(settings.joinTimeoutMs), firstEarlyExit(local)])
  if (missing.length > 0) {
    const said = local.filter((rank) => missing.includes(rank.rank) && rank.stderrTail().trim() !== "")
      .map((rank) => `rank ${rank.rank} (${rank.exit()?.reason ?? "running"}): ${rank.stderrTail().trim()}`)
    await dispose()
    throw new NatsClusterStartFailed({ cluster, reason: `not every rank joined within ${settings.joinTimeoutMs} ms${said.length > 0 ? `; ${said.join("; ")}` : ""}`, missingRanks: missing })
  }
  nats.seal()
  if (options.observeLocalExits ?? true) for (const rank of local) void rank.exited.then((exit) => nats.processExited(rank.rank, rank.pid, exit))
  const faults = makeNatsFaultHandle(nats, local, { worldSize, controlTimeoutMs: settings.controlTimeoutMs, killTimeoutMs: settings.silenceMaxMs + 2_000 })
  const injected = await Effect.runPromiseExit(Effect.forEach(options.faults ?? [], faults.inject, { discard: true }))
  if (injected._tag === "Failure") {
    await dispose()
    throw new NatsClusterStartFailed({ cluster, reason: `a start fault could not be injected: ${String(injected.cause)}`, missingRanks: [] })
  }
  return { transport: nats.transport, nats, faults, cluster, local, pids: local.map((rank) => rank.pid), connection, dispose }
}

const clusterIdFor = (cluster: string | undefined, mode: "spawn" | "connect") => {
  if (mode === "connect") return cluster ?? "default"
  return `${cluster ?? "rw"}-${process.pid}-${randomBytes(4).toString("hex")}`
}

const spawnAll = async (options: NatsClusterOptions, cluster: string, worldSize: number) => {
  const launch = await resolveLaunch(options.launch ?? "auto", natsRankEntryPath())
  return Array.from({ length: worldSize }, (_, rank) => spawnLocalRank(launch, {
    url: options.url,
    cluster,
    joinWaitMs: natsClusterDefaults.rankJoinWaitMs,
    insecure: options.auth._tag === "None",
    rank: { rank, worldSize, outputRank: options.outputRank ?? 0, workerKind: options.workerKind ?? "sim", model: options.model ?? {}, faults: [] }
  }, options.auth))
}

/** Resolves with the rank of the first spawned process that exits (before it could join); never otherwise. */
const firstEarlyExit = (local: ReadonlyArray<LocalRank>) =>
  new Promise<ReadonlyArray<number>>((resolve) => {
    for (const rank of local) void rank.exited.then(() => resolve([rank.rank]))
  })

const settingsOf = (options: NatsClusterOptions) => ({
  heartbeatEveryMs: options.heartbeatEveryMs ?? natsClusterDefaults.heartbeatEveryMs,
  silenceMaxMs: options.silenceMaxMs ?? natsClusterDefaults.silenceMaxMs,
  joinTimeoutMs: options.joinTimeoutMs ?? natsClusterDefaults.joinTimeoutMs,
  controlTimeoutMs: options.controlTimeoutMs ?? natsClusterDefaults.controlTimeoutMs,
  mailboxCapacity: options.mailboxCapacity ?? natsClusterDefaults.mailboxCapacity,
  disposeTimeoutMs: natsClusterDefaults.disposeTimeoutMs
})

const once = (action: () => Promise<void>) => {
  let running: Promise<void> | undefined
  return () => (running ??= action())
}

// ---------------------------------------------------------------------------------------------
// As an Effect service.
// ---------------------------------------------------------------------------------------------

/** The NatsCluster service: the fault handle and ranks behind `RankTransport`. */
export class NatsRanks extends Context.Service<NatsRanks, NatsCluster>()("rankwise/NatsRanks") {}

/** A NATS cluster whose ranks live as long as the current scope. */
export const makeNatsCluster = (options: NatsClusterOptions) =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => startNatsCluster(options), catch: (error) => error as NatsClusterError }),
    (cluster) => Effect.promise(() => cluster.dispose())
  )

/** Provides `RankTransport` over NATS ranks, and the cluster itself as `NatsRanks`. */
export const layerNatsCluster = (options: NatsClusterOptions): Layer.Layer<RankTransport | NatsRanks, NatsClusterError> =>
  Layer.effectContext(Effect.map(makeNatsCluster(options), (cluster) =>
    Context.make(RankTransport, cluster.transport).pipe(Context.add(NatsRanks, cluster))))

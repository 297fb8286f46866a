/**
 * The NATS backend: ranks on any host that reaches a NATS server, one publish per wave, replies
 * on per-rank subjects, liveness by heartbeats, fencing of ranks declared dead.
 *
 * Most callers need `natsHarnessFactoryFor` (drivers, the CLI's `--backend nats`) or
 * `startNatsCluster` / `layerNatsCluster` (a `RankTransport` for your own executor). A rank is
 * `rankwise rank` (cli/rank.ts) on any host, or spawned here by the cluster (rank-main.ts, not
 * imported). Sweeps across hosts: `runSweepCoordinator` and `startSweepWorker`.
 */
export {
  type NatsCluster, type NatsClusterError, type NatsClusterOptions, NatsClusterStartFailed, NatsRanks, layerNatsCluster,
  makeNatsCluster, natsClusterDefaults, startNatsCluster
} from "./cluster.ts"
export {
  type AuthSources, type NatsAuth, NatsAuthMissing, NatsConnectFailed, type NatsEndpoint, connectNats, isLoopbackUrl, natsEnvironment,
  resolveNatsAuth
} from "./connection.ts"
export { type NatsFaultHandle, type NatsRankTruth } from "./fault-handle.ts"
export {
  type NatsClusterHarness, type NatsHarnessExtras, type NatsHarnessFactory, type NatsHarnessFactoryOptions, type NatsHarnessTarget,
  natsHarnessFactoryFor, startNatsHarness
} from "./harness.ts"
export { type NatsRankOptions, rankExitCodes } from "./rank-node.ts"
export { type RankProcessOptions, runRankProcess } from "./rank-process.ts"
export { type NatsTransport, type NatsTransportOptions, type NatsTransportStats, makeNatsTransport } from "./transport.ts"
export { type CoordinatorOptions, type SweepOutcome, type SweepPlan, runSweepCoordinator, sweepFarmDefaults } from "./sweep-farm.ts"
export { type SeedResult, type SweepRun, mergeSeedResults } from "./sweep-results.ts"
export { type SweepWorker, type SweepWorkerOptions, startSweepWorker } from "./sweep-worker.ts"

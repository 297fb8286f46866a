/**
 * The process backend: every rank is an OS process (`child_process.fork`) hosting a worker,
 * reached over IPC; crashes, hangs and kills are real.
 *
 * Most callers need `processHarnessFactory` (drivers, the CLI's `--backend process`) or
 * `layerProcessCluster` / `makeProcessCluster` (a `RankTransport` for your own executor). The
 * rank program itself is rank-main.ts, which the cluster forks; it is not imported.
 */
export {
  type ProcessCluster, type ProcessClusterError, type ProcessClusterOptions, ProcessRanks, RanksSurvivedKill,
  layerProcessCluster, makeProcessCluster, processClusterDefaults, startProcessCluster
} from "./cluster.ts"
export { FaultNotDelivered, type InjectError, type ProcessFaultHandle, type ProcessRankTruth } from "./fault-handle.ts"
export { UnsupportedFault, checkProcessFault, processFaultKinds } from "./faults.ts"
export {
  type ProcessClusterHarness, type ProcessHarnessExtras, type ProcessHarnessFactory, driveWithBudget, processHarnessFactory, startProcessHarness
} from "./harness.ts"
export { type LaunchMode, type RankLaunch, type Runtime, currentRuntime, resolveLaunch } from "./launch.ts"
export { type RankConfig, type WorkerKind, workerKinds } from "./rank-config.ts"
export { RankStartFailed } from "./rank-process.ts"
export { type HostedWorker, type WorkerFactory, workerFactories } from "./worker-kinds.ts"
export {
  type OnnxClusterHarness, type OnnxHarnessConfig, type OnnxHarnessFactory, makeOnnxHarnessFactory, onnxHarnessFactory,
  startOnnxHarness
} from "./onnx-harness.ts"
export { type OnnxAssets, prepareOnnxAssets } from "./onnx-assets.ts"
export { type GenerateRequest, type Generated, GenerateInputError, GenerationFailed, generateOnce } from "./onnx-generate.ts"

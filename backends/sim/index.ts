/**
 * The simulated backend: simulated model ranks (memory, LoRA, sleep/wake, deterministic compute)
 * behind an in-memory transport on virtual time, with a fault plan declared as data.
 *
 * Most callers need only `layerSimCluster` (or `makeSimCluster`) and `FaultSpec`; the worker and
 * the transport are exported for tests that drive one part alone.
 */
export {
  SimCluster, layerSimCluster, makeSimCluster,
  type SimClusterInstance, type SimClusterOptions, type SimFaultHandle, type SimRankTruth
} from "./cluster.ts"
export { type OutputItem, itemDigest } from "./compute.ts"
export { type SimModelConfig, simModelDefaults } from "./config.ts"
export {
  FaultSpecSchema, InvalidFaultSpec, callFaultKinds, checkFaultSpec, decodeFaultSpec, faultKinds, makeFaultBook,
  signalFaultKinds,
  type CallFault, type CallFaultKind, type FaultBook, type FaultCount, type FaultKind, type FaultSpec, type SignalFaultKind
} from "./faults.ts"
export { makeSimulatedWorker, type SimWorkerOptions, type SimWorkerTruth, type SimulatedWorker } from "./model.ts"
export { makeSimTransport, simTransportDefaults, type SimTransport, type SimTransportOptions } from "./transport.ts"

/**
 * The simulated backend: simulated model ranks (memory, LoRA, sleep/wake, deterministic compute)
 * behind a simulated network on virtual time, with a fault plan declared as data.
 *
 * Most callers need only `layerSimCluster` (or `makeSimCluster`), `FaultSpec`, `FaultRule` and
 * `NetworkConfig`; the worker, the book and the transport are exported for tests that drive one
 * part alone.
 */
export {
  SimCluster, layerSimCluster, makeSimCluster,
  type SimClusterInstance, type SimClusterOptions, type SimFaultHandle, type SimRankTruth
} from "./cluster.ts"
export { type OutputItem, itemDigest } from "./compute.ts"
export { type SimModelConfig, simModelDefaults } from "./config.ts"
export { makeFaultBook, type FaultBook, type FaultBookOptions } from "./fault-book.ts"
export {
  faultPointNames, faultPointOfKind, type FaultPoint, type FaultPointCount, type FaultPoints, type SimEvent
} from "./fault-points.ts"
export {
  FaultRuleSchema, FaultSpecSchema, InvalidFaultSpec, callFaultKinds, checkFaultRule, checkFaultSpec, decodeFaultRule,
  decodeFaultSpec, faultKinds, methodBoundFaultKinds, signalFaultKinds,
  type CallFault, type CallFaultKind, type FaultCount, type FaultKind, type FaultRule, type FaultSpec, type SignalFaultKind
} from "./faults.ts"
export { makeSimulatedWorker, type SimWorkerOptions, type SimWorkerTruth, type SimulatedWorker } from "./model.ts"
export { type LinkState, type NetworkControls, type SwizzleOptions } from "./network-controls.ts"
export {
  InvalidNetworkConfig, NetworkConfigSchema, checkNetworkConfig, decodeNetworkConfig, directions,
  type DelayDistribution, type Direction, type LinkConfig, type NetworkConfig
} from "./network.ts"
export { makeSimTransport, simTransportDefaults, type SimTransport, type SimTransportOptions } from "./transport.ts"

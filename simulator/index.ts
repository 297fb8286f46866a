/**
 * The simulator (`rankwise/simulator`): a deterministic discrete-event world that runs the
 * unmodified core on virtual time; seeded runs with swarm faults, histories checked against a
 * reference model, sweeps with fault-space coverage, traces; scenario files; and the
 * simulator's cluster harness for drivers such as the conformance suites.
 */
export * from "./event-queue.ts"
export * from "./world.ts"
export * from "./harness.ts"
export * from "./sim-run.ts"
export * from "./sweep.ts"
export * from "./swarm.ts"
export * from "./trace.ts"
export * from "./history.ts"
export * from "./invariants.ts"
export * from "./workload.ts"
export * from "./scenario/format.ts"
export * from "./scenario/run.ts"

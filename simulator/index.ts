/**
 * The simulator: a deterministic discrete-event world that runs unmodified Effect code on
 * virtual time, and the timer queue underneath it.
 */
export * from "./event-queue.ts"
export * from "./world.ts"

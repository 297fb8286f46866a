/**
 * The workers a rank process can host, by kind: a fixed table of factories.
 *
 * A rank process is the same program whatever it hosts: it serves calls through `dispatch`,
 * applies faults and reports its state. Only the worker differs, so a worker kind is one factory
 * here: `sim` (the simulated model) and `onnx` (the ONNX Runtime model, onnx-worker-kind.ts).
 */
import type { Effect } from "effect"
import type { OutOfMemory } from "../../core/errors.ts"
import type { WorkerShape } from "../../core/worker.ts"
import { makeSimulatedWorker } from "../sim/model.ts"
import { makeOnnxHostedWorker } from "./onnx-worker-kind.ts"
import type { RankState } from "./protocol.ts"
import type { RankConfig, WorkerKind } from "./rank-config.ts"

/** A worker as a rank process hosts it: the contract, plus what faults and truth need. */
export interface HostedWorker {
  readonly worker: WorkerShape
  /** The worker's ground truth, read inside the rank. */
  readonly state: () => RankState
  /** Answers a wake with OutOfMemory and changes nothing: the `oomOnWake` fault. */
  readonly wakeUpOutOfMemory: () => Effect.Effect<never, OutOfMemory>
}

export type WorkerFactory = (config: RankConfig) => HostedWorker

const simWorker: WorkerFactory = (config) => {
  const worker = makeSimulatedWorker({ ...config.model, rank: config.rank, worldSize: config.worldSize, outputRank: config.outputRank })
  return {
    worker,
    state: () => {
      const truth = worker.truth()
      return { loaded: truth.loaded, asleep: truth.asleep, sleepLevel: truth.sleepLevel, loras: truth.loras, usedBytes: truth.usedBytes }
    },
    wakeUpOutOfMemory: worker.wakeUpOutOfMemory
  }
}

/** One factory per worker kind; the rank picks by its configuration's `workerKind`. */
export const workerFactories: Readonly<Record<WorkerKind, WorkerFactory>> = {
  sim: simWorker,
  onnx: makeOnnxHostedWorker
}

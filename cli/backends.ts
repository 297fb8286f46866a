/**
 * `--backend NAME`: which backend a CLI command runs on.
 *
 * `sim` runs ranks in process on virtual time (replayable, free budgets); `process` runs every
 * rank as an OS process on the wall clock (real crashes and kills); `onnx` is `process` with
 * every rank hosting the ONNX Runtime model (a cached model and adapters, CFG split on two ranks).
 * A name outside the list is a usage error that lists the names.
 */
import type { HarnessFactory } from "../backends/harness.ts"
import { processHarnessFactory } from "../backends/process/harness.ts"
import { onnxHarnessFactory } from "../backends/process/onnx-harness.ts"
import { simHarnessFactory } from "../simulator/harness.ts"

export const backendNames = ["sim", "process", "onnx"] as const
export type BackendName = (typeof backendNames)[number]

const factories: Readonly<Record<BackendName, HarnessFactory>> = {
  sim: simHarnessFactory,
  process: processHarnessFactory,
  onnx: onnxHarnessFactory
}

/** The harness factory for `--backend name`, or a usage message naming the known backends. */
export const harnessFactoryFor = (name: string): HarnessFactory | { readonly usage: string } =>
  (backendNames as ReadonlyArray<string>).includes(name)
    ? factories[name as BackendName]
    : { usage: `unknown backend '${name}' (known: ${backendNames.join(", ")})` }

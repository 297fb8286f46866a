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
import { natsHarnessFactoryFor } from "../backends/nats/harness.ts"
import { simHarnessFactory } from "../simulator/harness.ts"

export const backendNames = ["sim", "process", "onnx"] as const
export type BackendName = (typeof backendNames)[number]

/** Where `--backend nats` finds its server: `--nats URL [--cluster ID]`, the token from RANKWISE_NATS_TOKEN. */
export interface NatsTarget {
  readonly url?: string | undefined
  readonly cluster?: string | undefined
}

const factories: Readonly<Record<BackendName, HarnessFactory>> = {
  sim: simHarnessFactory,
  process: processHarnessFactory,
  onnx: onnxHarnessFactory
}

/**
 * The harness factory for `--backend name`, or a usage message naming the known backends. `nats`
 * spawns its ranks here, connected through the server at `nats.url` (a loopback URL may run
 * without a token; any other needs RANKWISE_NATS_TOKEN).
 */
export const harnessFactoryFor = (name: string, nats: NatsTarget = {}): HarnessFactory | { readonly usage: string } => {
  if (name === "nats") {
    if (nats.url === undefined) return { usage: "--backend nats needs --nats URL (and optionally --cluster ID)" }
    return natsHarnessFactoryFor({ url: nats.url, cluster: nats.cluster ?? "rankwise", token: process.env.RANKWISE_NATS_TOKEN })
  }
  return (backendNames as ReadonlyArray<string>).includes(name)
    ? factories[name as BackendName]
    : { usage: `unknown backend '${name}' (known: ${[...backendNames, "nats"].join(", ")})` }
}

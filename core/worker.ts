/**
 * The Worker contract: what one rank does.
 *
 * A worker owns one rank's device memory, weights, LoRA adapters and sleep state. Every method
 * answers a value or one of the typed errors the contract lists; nothing throws, and a model
 * without a LoRA manager answers `LoraUnsupported` instead of upstream's AttributeError.
 *
 * Calls travel as `WorkerCall` data (one variant per method) so that the same contract works in
 * process, over IPC and over a network. `dispatch` is the allowlist: a call is matched to a method
 * by a `switch` over the closed set of names, never by looking a name up on an object.
 */
import { Context, Effect, Schema } from "effect"
import type {
  AlreadyAsleep, IncompleteWake, LoraInvalid, LoraNotFound, LoraUnsupported, ModelError,
  ModelLoadError, NotAsleep, OutOfMemory, Unhealthy, WorkerAsleep, WorkerError
} from "./errors.ts"
import { DiffusionRequestInput, type DiffusionRequest } from "./request.ts"

export type SleepLevel = 1 | 2
/** Memory pools a wake can restore. Level 1 and 2 both put `weights` to sleep. */
export const memoryTags = ["weights", "kv_cache"] as const
export type MemoryTag = (typeof memoryTags)[number]

/** A LoRA adapter as the engine hands it to ranks. */
export interface LoraAdapter {
  readonly id: number
  readonly name: string
  /** Where the adapter's weights live; backends that load files check it lies in their adapter directory. */
  readonly path?: string | undefined
}

/** A request as it reaches a rank: validated, with its seed resolved by the engine. */
export type BatchRequest = DiffusionRequest & { readonly seed: number }

/** One batch of compatible requests; every rank executes it. */
export interface Batch {
  readonly batchId: number
  readonly requests: ReadonlyArray<BatchRequest>
}

export interface LoadReport { readonly bytes: number }
export interface SleepReport { readonly level: SleepLevel; readonly freedBytes: number }
export interface WakeReport { readonly tags: ReadonlyArray<MemoryTag>; readonly restoredBytes: number }
export interface LoraReport { readonly adapterId: number; readonly boundLayers: number }
export interface Health {
  readonly rank: number
  readonly asleep: boolean
  readonly sleepLevel: SleepLevel | null
  readonly loras: ReadonlyArray<number>
  readonly usedBytes: number
  readonly device: string
}

/**
 * What `execute` answers. The output rank answers the batch's raw output (a legacy post-process
 * dict or an envelope, checked by the engine with `output.ts`); every other rank answers `Ack`.
 */
export type ExecuteReply =
  | { readonly _tag: "Output"; readonly output: unknown }
  | { readonly _tag: "Ack" }

/** One rank's implementation of the contract. */
export interface WorkerShape {
  readonly load: () => Effect.Effect<LoadReport, ModelLoadError | OutOfMemory>
  readonly execute: (batch: Batch) => Effect.Effect<ExecuteReply, ModelError | OutOfMemory | WorkerAsleep>
  readonly sleep: (level: SleepLevel) => Effect.Effect<SleepReport, AlreadyAsleep | ModelError>
  readonly wakeUp: (tags: ReadonlyArray<MemoryTag>) => Effect.Effect<WakeReport, IncompleteWake | OutOfMemory | NotAsleep>
  readonly addLora: (adapter: LoraAdapter) => Effect.Effect<LoraReport, LoraUnsupported | LoraInvalid>
  readonly removeLora: (adapterId: number) => Effect.Effect<LoraReport, LoraUnsupported | LoraNotFound>
  readonly pinLora: (adapterId: number) => Effect.Effect<LoraReport, LoraUnsupported | LoraNotFound>
  readonly listLoras: () => Effect.Effect<ReadonlyArray<number>, LoraUnsupported>
  readonly checkHealth: () => Effect.Effect<Health, Unhealthy>
  readonly shutdown: () => Effect.Effect<void>
}

/** The Worker service: the one rank a rank host serves. */
export class Worker extends Context.Service<Worker, WorkerShape>()("rankwise/Worker") {}

// ---------------------------------------------------------------------------------------------
// Calls as data, with the schema that decodes them from the wire.
// ---------------------------------------------------------------------------------------------

const AdapterId = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const BatchRequestWire = Schema.Struct({
  ...DiffusionRequestInput.fields,
  height: Schema.Int, width: Schema.Int, frames: Schema.Int, fps: Schema.Finite, steps: Schema.Int,
  guidanceScale: Schema.Finite, seed: Schema.Int, outputsPerPrompt: Schema.Int,
  outputType: DiffusionRequestInput.fields.outputType.schema,
  lora: Schema.optionalKey(Schema.Struct({ id: Schema.Int, name: Schema.String, path: Schema.optionalKey(Schema.String), scale: Schema.Finite }))
})

/** Every call of the contract, as a schema: the allowlist of what may cross the wire. */
export const WorkerCall = Schema.Union([
  Schema.Struct({ method: Schema.Literal("load") }),
  Schema.Struct({ method: Schema.Literal("execute"), batch: Schema.Struct({ batchId: Schema.Int, requests: Schema.Array(BatchRequestWire) }) }),
  Schema.Struct({ method: Schema.Literal("sleep"), level: Schema.Literals([1, 2]) }),
  Schema.Struct({ method: Schema.Literal("wakeUp"), tags: Schema.Array(Schema.Literals(memoryTags)) }),
  Schema.Struct({ method: Schema.Literal("addLora"), adapter: Schema.Struct({ id: AdapterId, name: Schema.String, path: Schema.optionalKey(Schema.String) }) }),
  Schema.Struct({ method: Schema.Literal("removeLora"), adapterId: AdapterId }),
  Schema.Struct({ method: Schema.Literal("pinLora"), adapterId: AdapterId }),
  Schema.Struct({ method: Schema.Literal("listLoras") }),
  Schema.Struct({ method: Schema.Literal("checkHealth") }),
  Schema.Struct({ method: Schema.Literal("shutdown") })
])
export type WorkerCall = typeof WorkerCall.Type
export type WorkerMethod = WorkerCall["method"]
export const workerMethods: ReadonlyArray<WorkerMethod> = [
  "load", "execute", "sleep", "wakeUp", "addLora", "removeLora", "pinLora", "listLoras", "checkHealth", "shutdown"
]

/** What each method answers on success. */
export interface WorkerValues {
  readonly load: LoadReport
  readonly execute: ExecuteReply
  readonly sleep: SleepReport
  readonly wakeUp: WakeReport
  readonly addLora: LoraReport
  readonly removeLora: LoraReport
  readonly pinLora: LoraReport
  readonly listLoras: ReadonlyArray<number>
  readonly checkHealth: Health
  readonly shutdown: void
}
export type WorkerValue = WorkerValues[WorkerMethod]

/** Runs one call on a worker. The `switch` is the allowlist; each arm is one contract method. */
export const dispatch = (worker: WorkerShape, call: WorkerCall): Effect.Effect<WorkerValue, WorkerError> => {
  switch (call.method) {
    case "load": return worker.load()
    case "execute": return worker.execute(call.batch as Batch)
    case "sleep": return worker.sleep(call.level)
    case "wakeUp": return worker.wakeUp(call.tags)
    case "addLora": return worker.addLora(call.adapter)
    case "removeLora": return worker.removeLora(call.adapterId)
    case "pinLora": return worker.pinLora(call.adapterId)
    case "listLoras": return worker.listLoras()
    case "checkHealth": return worker.checkHealth()
    case "shutdown": return worker.shutdown()
  }
}

/**
 * One image, end to end: start `onnx` rank processes, add an adapter if asked, submit one
 * request through the engine, decode the output rank's image, give everything back.
 *
 * This is what `rankwise generate` and the benchmark's end-to-end path run. The inputs are
 * checked before any process starts (the model's files, the size against its scale factor, the
 * adapter file against the model's LoRA targets), so a bad input is a `GenerateInputError` that
 * names it, and only a failure of the running system is a `GenerationFailed`. Ranks are always
 * disposed, and the answer says how long each phase took, which provider ran, and the sampler's
 * per-step timings as the output rank measured them.
 */
import { randomInt } from "node:crypto"
import { realpath } from "node:fs/promises"
import { basename, dirname } from "node:path"
import { Cause, Data, Effect, Exit, Result } from "effect"
import type { ImageItem } from "../onnx/batch-plan.ts"
import { itemRgb } from "../onnx/batch-plan.ts"
import { readLora } from "../onnx/lora-file.ts"
import { bindLora } from "../onnx/lora.ts"
import { loadModel, type ModelManifest } from "../onnx/model.ts"
import { encodePng } from "../onnx/png.ts"
import type { ProviderReport } from "../onnx/sessions.ts"
import type { SamplingTimings } from "../onnx/sampler.ts"
import { prepareOnnxAssets } from "./onnx-assets.ts"
import { type OnnxClusterHarness, startOnnxHarness } from "./onnx-harness.ts"

export interface GenerateRequest {
  readonly prompt: string
  readonly negativePrompt?: string | undefined
  readonly steps: number
  /** Height and width in pixels; a multiple of the model's scale factor. */
  readonly size: number
  readonly guidanceScale: number
  /** Absent: the engine draws one (the answer says which). */
  readonly seed?: number | undefined
  /** An adapter file, applied at `scale`. */
  readonly lora?: { readonly file: string; readonly scale: number } | undefined
}

export interface GenerateSetup {
  readonly ranks: 1 | 2
  /** A model directory; the cached default model when absent. */
  readonly modelDir?: string | undefined
  readonly providers?: ReadonlyArray<string> | undefined
  /** Bound on the request once submitted (default 120 s). */
  readonly requestTimeoutMs?: number | undefined
}

export interface Generated {
  readonly item: ImageItem
  readonly png: Uint8Array
  readonly provider: ProviderReport
  readonly timings: SamplingTimings
  /** True when the two ranks split the guidance branches. */
  readonly cfgParallel: boolean
  /** Checking inputs and preparing the model, ms. */
  readonly prepareMs: number
  /** Starting the ranks and loading the model on each, ms. */
  readonly startMs: number
  /** Adding the adapter, ms (0 without one). */
  readonly loraMs: number
  /** Submit to output, through the engine, ms. */
  readonly requestMs: number
  readonly totalMs: number
}

/** An input that cannot work, found before any rank starts. */
export class GenerateInputError extends Data.TaggedError("GenerateInputError")<{ readonly reason: string }> {
  override get message() { return this.reason }
}

/** The running system failed: ranks did not start, the adapter was refused, the request failed. */
export class GenerationFailed extends Data.TaggedError("GenerationFailed")<{
  readonly stage: "start" | "addLora" | "request" | "output"
  readonly reason: string
}> {
  override get message() { return `${this.stage} failed: ${this.reason}` }
}

/** A typed failure as `Tag: message`, else the cause's first lines. */
const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = cause.reasons.find(Cause.isFailReason)
  const error = failure?.error as { readonly _tag?: unknown; readonly message?: unknown } | undefined
  if (error !== undefined && typeof error._tag === "string") return typeof error.message === "string" && error.message !== "" ? `${error._tag}: ${error.message}` : error._tag
  return Cause.pretty(cause).split("\n").slice(0, 3).join(" ")
}

const defaultRequestTimeoutMs = 120_000
/** The id the adapter gets on the ranks; one request, one adapter. */
const adapterId = 1

interface CheckedInputs {
  readonly modelDir: string
  readonly adapterDir: string
  readonly manifest: ModelManifest
  readonly lora: { readonly name: string; readonly path: string; readonly scale: number } | undefined
}

/** Checks the model and the adapter before anything starts. */
export const checkInputs = async (request: GenerateRequest, setup: GenerateSetup): Promise<Result.Result<CheckedInputs, GenerateInputError>> => {
  const refuse = (reason: string) => Result.fail(new GenerateInputError({ reason }))
  const modelDir = setup.modelDir ?? (await prepareOnnxAssets()).modelDir
  const model = await Effect.runPromiseExit(loadModel(modelDir))
  if (Exit.isFailure(model)) return refuse(`--model ${modelDir} is not a usable model: ${describeCause(model.cause)}`)
  const manifest = model.value.manifest
  const factor = manifest.config.scaleFactor
  if (request.size % factor !== 0) return refuse(`--size must be a multiple of ${factor} for this model, got ${request.size}`)
  if (request.lora === undefined) return Result.succeed({ modelDir, adapterDir: modelDir, manifest, lora: undefined })
  const file = await realpath(request.lora.file).catch(() => undefined)
  if (file === undefined) return refuse(`--lora ${request.lora.file} cannot be read (no such file)`)
  // The ranks read adapters only from their adapter directory: the file's own folder here.
  const adapterDir = dirname(file)
  const weights = await Effect.runPromiseExit(readLora(basename(file), { adapterDir, adapterId }))
  if (Exit.isFailure(weights)) return refuse(`--lora ${request.lora.file} is not a usable adapter: ${describeCause(weights.cause)}`)
  const bound = bindLora(adapterId, weights.value, manifest.loraTargets)
  if (Result.isFailure(bound)) return refuse(`--lora ${request.lora.file} does not fit this model: ${bound.failure.reason}`)
  const name = basename(file).replace(/\.rwlora$/, "") || "adapter"
  return Result.succeed({ modelDir, adapterDir, manifest, lora: { name, path: basename(file), scale: request.lora.scale } })
}

/** Generates one image on fresh rank processes; rejects with `GenerateInputError` or `GenerationFailed`. */
export const generateOnce = async (request: GenerateRequest, setup: GenerateSetup): Promise<Generated> => {
  const started = performance.now()
  const checked = await checkInputs(request, setup)
  if (Result.isFailure(checked)) throw checked.failure
  const inputs = checked.success
  const prepared = performance.now()
  // The engine draws a request's missing seed from its own seeded stream: a fresh engine seed
  // per run, so two runs without --seed do not draw the same image. The answer names the seed.
  const engineSeed = request.seed === undefined ? randomInt(0x7fff_ffff) : 1
  const harness = await startOnnxHarness({ ranks: setup.ranks, seed: engineSeed, engine: { executeTimeoutMs: setup.requestTimeoutMs ?? defaultRequestTimeoutMs } }, {
    modelDir: inputs.modelDir, adapterDir: inputs.adapterDir, providers: setup.providers
  }).catch((error: unknown) => {
    throw new GenerationFailed({ stage: "start", reason: error instanceof Error ? error.message : String(error) })
  })
  try {
    const ranksStarted = performance.now()
    await addAdapter(harness, inputs)
    const loraDone = performance.now()
    const item = await submitOne(harness, request, inputs, setup.requestTimeoutMs ?? defaultRequestTimeoutMs)
    const finished = performance.now()
    if (item.timings === null || item.provider === null) throw new GenerationFailed({ stage: "output", reason: "the image carries no timings or provider" })
    return {
      item,
      png: encodePng({ width: item.width, height: item.height, rgb: itemRgb(item) }),
      provider: item.provider,
      timings: item.timings,
      cfgParallel: setup.ranks === 2 && item.timings.exchangeMs !== undefined,
      prepareMs: prepared - started,
      startMs: ranksStarted - prepared,
      loraMs: loraDone - ranksStarted,
      requestMs: finished - loraDone,
      totalMs: finished - started
    }
  } finally {
    await harness.dispose()
  }
}

const addAdapter = async (harness: OnnxClusterHarness, inputs: CheckedInputs): Promise<void> => {
  if (inputs.lora === undefined) return
  const added = await harness.run(harness.engine.addLora({ id: adapterId, name: inputs.lora.name, path: inputs.lora.path }), 60_000)
  if (added._tag !== "Done") throw new GenerationFailed({ stage: "addLora", reason: "no answer within 60 s" })
  if (Exit.isFailure(added.exit)) throw new GenerationFailed({ stage: "addLora", reason: describeCause(added.exit.cause) })
}

/** The request as the engine takes it. */
export const requestInput = (request: GenerateRequest, lora: CheckedInputs["lora"], requestId = "generate") => ({
  requestId,
  prompt: request.prompt,
  ...(request.negativePrompt === undefined ? {} : { negativePrompt: request.negativePrompt }),
  steps: request.steps,
  height: request.size,
  width: request.size,
  guidanceScale: request.guidanceScale,
  ...(request.seed === undefined ? {} : { seed: request.seed }),
  ...(lora === undefined ? {} : { lora: { id: adapterId, name: lora.name, path: lora.path, scale: lora.scale } })
})

const submitOne = async (harness: OnnxClusterHarness, request: GenerateRequest, inputs: CheckedInputs, timeoutMs: number): Promise<ImageItem> => {
  const done = await harness.run(harness.engine.submit(requestInput(request, inputs.lora)), timeoutMs + 5_000)
  if (done._tag !== "Done") throw new GenerationFailed({ stage: "request", reason: `no answer within ${timeoutMs} ms` })
  if (Exit.isFailure(done.exit)) throw new GenerationFailed({ stage: "request", reason: describeCause(done.exit.cause) })
  const image = done.exit.value.output.payload.find((payload) => payload._tag === "image")
  const item = image?.items[0] as ImageItem | undefined
  if (item === undefined) throw new GenerationFailed({ stage: "output", reason: "the output holds no image" })
  return item
}

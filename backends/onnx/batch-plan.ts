/**
 * From a batch of requests to a sampling job, and from sampled pixels to the output rank's reply.
 *
 * The engine batches requests with equal compatibility keys (core/request.ts), so a batch shares
 * size, steps, guidance and adapter; the worker checks that again, because a batch arrives over
 * the wire and a mixed one would otherwise be sampled with the first request's settings. Outputs
 * are prompt-major (request i's k outputs at rows [i*k, (i+1)*k)), as `splitPerPrompt` expects.
 *
 * An output item is plain JSON (`rgb` is base64 of the interleaved 8-bit RGB bytes), because it
 * crosses a process boundary on its way to the engine. Each item also carries how its batch ran
 * (the provider report and the sampler's timings), so a caller of the engine can tell what it got
 * without a second call to the ranks.
 */
import { Buffer } from "node:buffer"
import { Result } from "effect"
import { ModelError } from "../../core/errors.ts"
import { compatibilityKey } from "../../core/request.ts"
import type { Batch, BatchRequest } from "../../core/worker.ts"
import { toRgbBytes } from "./decoder.ts"
import type { SamplingJob, SamplingTimings } from "./sampler.ts"
import type { ProviderReport } from "./sessions.ts"
import type { ModelConfig } from "./weights.ts"

export interface PlannedBatch {
  readonly job: SamplingJob
  /** The adapter every request of the batch asks for, with its scale; undefined for the base model. */
  readonly lora: { readonly id: number; readonly name: string; readonly scale: number } | undefined
  /** Which request and output each row is. */
  readonly rows: ReadonlyArray<{ readonly requestId: string; readonly outputIndex: number; readonly seed: number }>
}

/** One generated image as the output rank hands it back. */
export interface ImageItem {
  readonly requestId: string
  readonly outputIndex: number
  readonly seed: number
  readonly width: number
  readonly height: number
  readonly adapterId: number | null
  /** Base64 of width x height x 3 bytes, row-major RGB. */
  readonly rgb: string
  /** The output rank's timings of the whole batch this item came from (null when not given). */
  readonly timings: SamplingTimings | null
  /** The execution provider the output rank ran on, and the ones it passed over (null when not given). */
  readonly provider: ProviderReport | null
}

/** How the output rank ran the batch. */
export interface BatchRun {
  readonly timings: SamplingTimings
  readonly provider: ProviderReport
}

/** Guidance is on only with a negative prompt and a scale above 1, as core's compatibility key says. */
const guidanceOf = (request: BatchRequest): number | null =>
  request.negativePrompt !== undefined && request.guidanceScale > 1 ? request.guidanceScale : null

/** The batch's job, or why this model cannot run it. */
export const planBatch = (batch: Batch, config: ModelConfig): Result.Result<PlannedBatch, ModelError> => {
  const refuse = (reason: string) => Result.fail(new ModelError({ reason: `batch ${batch.batchId}: ${reason}` }))
  const [first] = batch.requests
  if (first === undefined) return refuse("holds no request")
  const key = compatibilityKey(first)
  const mixed = batch.requests.find((request) => compatibilityKey(request) !== key)
  if (mixed !== undefined) return refuse(`request ${mixed.requestId} is not compatible with ${first.requestId}`)
  if (first.outputType !== "image") return refuse(`this model makes images, not ${first.outputType}`)
  if (first.height % config.scaleFactor !== 0 || first.width % config.scaleFactor !== 0) {
    return refuse(`height and width must be multiples of ${config.scaleFactor} (got ${first.height}x${first.width})`)
  }
  const rows = batch.requests.flatMap((request) =>
    Array.from({ length: request.outputsPerPrompt }, (_, outputIndex) => ({ request, outputIndex })))
  return Result.succeed({
    job: {
      items: rows.map(({ request, outputIndex }) => ({
        prompt: request.prompt, negativePrompt: request.negativePrompt ?? "", seed: request.seed, outputIndex
      })),
      height: first.height,
      width: first.width,
      steps: first.steps,
      guidanceScale: guidanceOf(first)
    },
    lora: first.lora && { id: first.lora.id, name: first.lora.name, scale: first.lora.scale },
    rows: rows.map(({ request, outputIndex }) => ({ requestId: request.requestId, outputIndex, seed: request.seed }))
  })
}

/** The output rank's reply payload: the legacy `{ image }` dict, one item per row. */
export const imageOutput = (plan: PlannedBatch, images: Float32Array, run?: BatchRun): { readonly image: ReadonlyArray<ImageItem> } => ({
  image: plan.rows.map((row, index) => ({
    ...row,
    width: plan.job.width,
    height: plan.job.height,
    adapterId: plan.lora?.id ?? null,
    rgb: Buffer.from(toRgbBytes(images, index, plan.job.height, plan.job.width)).toString("base64"),
    timings: run?.timings ?? null,
    provider: run?.provider ?? null
  }))
})

/** The RGB bytes of an item, for writing a PNG or comparing images. */
export const itemRgb = (item: ImageItem): Uint8Array => new Uint8Array(Buffer.from(item.rgb, "base64"))

/**
 * Activation bytes a batch needs while it runs, roughly: per row and guidance branch, the
 * denoiser's hidden activations at latent size and the decoder's at image size, in float32.
 */
export const activationBytes = (plan: PlannedBatch, config: ModelConfig): number => {
  const branches = plan.job.guidanceScale === null ? 1 : 2
  const latentPixels = (plan.job.height / config.scaleFactor) * (plan.job.width / config.scaleFactor)
  const imagePixels = plan.job.height * plan.job.width
  const perRow = branches * config.hiddenChannels * latentPixels * 3 + (config.decoderChannels + 3) * imagePixels
  return plan.rows.length * perRow * 4
}

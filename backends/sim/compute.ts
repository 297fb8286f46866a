/**
 * The simulated model's computation: deterministic digests in place of images.
 *
 * Every rank of a real runtime computes the same denoising loop (the ranks cooperate through
 * collectives), and only the output rank hands back the result. The simulation keeps what the
 * control plane can observe: the output's shape, which adapter shaped it, and a digest that is a
 * pure function of everything that should change the pixels (prompt, negative prompt, seed,
 * output index, shape, steps, guidance, adapter and its scale). Equal inputs give equal digests
 * on every rank and every run; a different seed or adapter gives a different digest, so a test
 * can tell whether an adapter was applied.
 */
import { hashName } from "../../core/random.ts"
import type { OutputType } from "../../core/request.ts"
import type { Batch, BatchRequest } from "../../core/worker.ts"

/** One generated output: a digest standing in for the pixels, with its shape. */
export interface OutputItem {
  /** An unsigned 32-bit hash of every input that shapes this output. */
  readonly digest: number
  readonly height: number
  readonly width: number
  readonly frames: number
  readonly adapterId: number | null
}

/** The digest of output `outputIndex` of `request`. */
export const itemDigest = (request: BatchRequest, outputIndex: number): number =>
  hashName(0, JSON.stringify([
    request.prompt, request.negativePrompt ?? null, request.seed, outputIndex,
    request.height, request.width, request.frames, request.steps, request.guidanceScale,
    request.lora?.id ?? null, request.lora?.scale ?? null
  ]))

/** Every output of the batch, prompt-major: prompt i's k outputs sit at [i*k, (i+1)*k). */
export const computeItems = (batch: Batch): ReadonlyArray<OutputItem> =>
  batch.requests.flatMap((request) =>
    Array.from({ length: request.outputsPerPrompt }, (_, outputIndex) => ({
      digest: itemDigest(request, outputIndex),
      height: request.height,
      width: request.width,
      frames: request.frames,
      adapterId: request.lora?.id ?? null
    })))

/** Steps the batch runs; requests of one batch share a step count, so this is that count. */
export const batchSteps = (batch: Batch): number =>
  batch.requests.reduce((steps, request) => Math.max(steps, request.steps), 0)

/** Activation bytes one `execute` of the batch allocates while it runs. */
export const activationBytes = (batch: Batch, bytesPerPixel: number): number =>
  batch.requests.reduce(
    (total, request) => total + request.height * request.width * request.frames * request.outputsPerPrompt * bytesPerPixel,
    0)

/** The output types of the batch's requests, distinct; a compatible batch has exactly one. */
export const batchOutputTypes = (batch: Batch): ReadonlyArray<OutputType> =>
  [...new Set(batch.requests.map((request) => request.outputType))]

/**
 * The upstream-style post-process dict for the whole batch: `{ image }`, `{ video, fps }` or
 * `{ latents }`. The engine turns it into a typed envelope with `core/output.ts`, so this is the
 * loose shape real models hand back, kept on purpose.
 */
export const legacyOutput = (
  outputType: OutputType,
  fps: number,
  items: ReadonlyArray<OutputItem>
): Record<string, unknown> => {
  switch (outputType) {
    case "image": return { image: items }
    case "video": return { video: items, fps }
    case "latents": return { latents: items }
  }
}

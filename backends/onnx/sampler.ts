/**
 * The sampler: seeded initial noise, a DDIM loop, classifier-free guidance, and batching.
 *
 * A job is one batch of compatible outputs (same size, steps and guidance), stacked along the
 * batch dimension so each model call runs once for all of them. Output row i starts from noise
 * drawn from the stream `noise:<outputIndex>` of its request's seed, so its starting point does
 * not depend on what else shares its batch (its pixels then agree with a solo run to float
 * rounding: ONNX Runtime may take another kernel path for one row than for several).
 *
 * The step loop is exposed in pieces so a CFG-parallel split can run it across two ranks:
 * `predictBranch` computes the conditional or the unconditional noise for one step; the ranks
 * exchange their halves; `guidedNoise` and `ddimStep` are pure, so both ranks combine and step
 * identically. In one process `runSampling` stacks both branches into one run of 2B rows; on the
 * CPU provider that gives the same bits as two runs of B rows (a test checks it), so splitting
 * the branches across ranks changes no output.
 */
import { assert } from "../../core/assert.ts"
import { makeStream } from "../../core/random.ts"
import { normals } from "./gaussian.ts"
import type { LatentShape, Pipeline } from "./pipeline.ts"
import { combineGuidance, type DdimSchedule, ddimStep, makeDdimSchedule } from "./schedule.ts"
import { tokenizeBatch } from "./text-encoder.ts"
import type { ModelConfig } from "./weights.ts"

/** One output to generate: its prompts and where its noise comes from. */
export interface SamplingItem {
  readonly prompt: string
  /** The unconditional prompt of guidance; "" when the request gave none. */
  readonly negativePrompt: string
  readonly seed: number
  /** Which of its request's outputs this is (0 for the first). */
  readonly outputIndex: number
}

export interface SamplingJob {
  readonly items: ReadonlyArray<SamplingItem>
  readonly height: number
  readonly width: number
  readonly steps: number
  /** Null: no guidance, the conditional prediction alone (one branch, half the work). */
  readonly guidanceScale: number | null
}

export type Branch = "cond" | "uncond"

/** Everything a step needs besides the current latents; the same on every rank of a CFG split. */
export interface SamplingState {
  readonly job: SamplingJob
  readonly shape: LatentShape
  readonly schedule: DdimSchedule
  readonly text: { readonly [B in Branch]: Float32Array | undefined }
  readonly initialLatents: Float32Array
}

export interface SamplingTimings {
  readonly encodeMs: number
  /** One entry per step: predict, combine and update. */
  readonly stepMs: ReadonlyArray<number>
  /** CFG-parallel only: per step, the part of `stepMs` spent waiting for the peer rank's branch. */
  readonly exchangeMs?: ReadonlyArray<number> | undefined
  readonly decodeMs: number
  readonly totalMs: number
}

export interface SamplingResult {
  /** RGB in [0, 1], [batch, 3, height, width]. */
  readonly images: Float32Array
  readonly latents: Float32Array
  readonly timings: SamplingTimings
}

export const latentShape = (config: ModelConfig, job: SamplingJob): LatentShape => {
  assert(job.height % config.scaleFactor === 0 && job.width % config.scaleFactor === 0, "the image size is a multiple of the scale factor")
  return { batch: job.items.length, channels: config.latentChannels, height: job.height / config.scaleFactor, width: job.width / config.scaleFactor }
}

/** Initial noise of every row: N(0, 1), from each item's own seed and output index. */
export const initialLatents = (shape: LatentShape, items: ReadonlyArray<SamplingItem>): Float32Array => {
  const size = shape.channels * shape.height * shape.width
  const out = new Float32Array(shape.batch * size)
  items.forEach((item, row) => out.set(normals(makeStream(item.seed, `noise:${item.outputIndex}`), size), row * size))
  return out
}

/** Encodes the prompts (both branches in one run when guided) and draws the initial noise. */
export const prepareSampling = async (pipeline: Pipeline, config: ModelConfig, job: SamplingJob): Promise<SamplingState> => {
  assert(job.items.length > 0, "a job has at least one output")
  const shape = latentShape(config, job)
  const guided = job.guidanceScale !== null
  const prompts = job.items.map((item) => item.prompt)
  const allPrompts = guided ? [...prompts, ...job.items.map((item) => item.negativePrompt)] : prompts
  const embedded = await pipeline.encodeText(tokenizeBatch(allPrompts, config), allPrompts.length)
  const rowSize = config.textDim * shape.batch
  return {
    job,
    shape,
    schedule: makeDdimSchedule(job.steps),
    text: { cond: embedded.slice(0, rowSize), uncond: guided ? embedded.slice(rowSize) : undefined },
    initialLatents: initialLatents(shape, job.items)
  }
}

const timestepColumn = (state: SamplingState, stepIndex: number, rows: number) =>
  new Float32Array(rows).fill(state.schedule.timesteps[stepIndex])

/** The noise prediction of one branch at one step: the unit of work of a CFG-parallel rank. */
export const predictBranch = (pipeline: Pipeline, state: SamplingState, latents: Float32Array, stepIndex: number, branch: Branch): Promise<Float32Array> => {
  const text = state.text[branch]
  assert(text !== undefined, `the ${branch} branch was encoded`)
  return pipeline.predictNoise({ shape: state.shape, latents, timesteps: timestepColumn(state, stepIndex, state.shape.batch), text })
}

/** Both branches in one run of 2B rows (cond rows first), split back into halves. */
export const predictStacked = async (pipeline: Pipeline, state: SamplingState, latents: Float32Array, stepIndex: number) => {
  const { cond, uncond } = state.text
  assert(cond !== undefined && uncond !== undefined, "stacking needs both branches")
  const stacked = new Float32Array(latents.length * 2)
  stacked.set(latents)
  stacked.set(latents, latents.length)
  const text = new Float32Array(cond.length * 2)
  text.set(cond)
  text.set(uncond, cond.length)
  const shape = { ...state.shape, batch: state.shape.batch * 2 }
  const noise = await pipeline.predictNoise({ shape, latents: stacked, timesteps: timestepColumn(state, stepIndex, shape.batch), text })
  return { cond: noise.slice(0, latents.length), uncond: noise.slice(latents.length) }
}

/** The noise a step uses: the guided combination, or the conditional prediction when unguided. */
export const guidedNoise = (state: SamplingState, cond: Float32Array, uncond: Float32Array | undefined): Float32Array => {
  if (state.job.guidanceScale === null) return cond
  assert(uncond !== undefined, "a guided step has the unconditional prediction")
  return combineGuidance(cond, uncond, state.job.guidanceScale)
}

/** One whole step in one process. */
const stepOnce = async (pipeline: Pipeline, state: SamplingState, latents: Float32Array, stepIndex: number, stackBranches: boolean) => {
  if (state.job.guidanceScale === null) {
    return ddimStep(state.schedule, stepIndex, latents, await predictBranch(pipeline, state, latents, stepIndex, "cond"))
  }
  const { cond, uncond } = stackBranches
    ? await predictStacked(pipeline, state, latents, stepIndex)
    : { cond: await predictBranch(pipeline, state, latents, stepIndex, "cond"), uncond: await predictBranch(pipeline, state, latents, stepIndex, "uncond") }
  return ddimStep(state.schedule, stepIndex, latents, guidedNoise(state, cond, uncond))
}

/**
 * Runs a whole job in this process: encode, `steps` DDIM steps, decode. Use for the
 * single-process path; a CFG-parallel rank drives `predictBranch`/`guidedNoise`/`ddimStep` itself.
 * `stackBranches` (default true) runs both guidance branches as one batch.
 */
export const runSampling = async (
  pipeline: Pipeline,
  config: ModelConfig,
  job: SamplingJob,
  options: { readonly stackBranches?: boolean } = {}
): Promise<SamplingResult> => {
  const started = performance.now()
  const state = await prepareSampling(pipeline, config, job)
  const encoded = performance.now()
  const stepMs: Array<number> = []
  let latents = state.initialLatents
  for (let stepIndex = 0; stepIndex < job.steps; stepIndex++) {
    const stepStarted = performance.now()
    latents = await stepOnce(pipeline, state, latents, stepIndex, options.stackBranches ?? true)
    stepMs.push(performance.now() - stepStarted)
  }
  const decodeStarted = performance.now()
  const images = await pipeline.decode(latents, state.shape)
  const finished = performance.now()
  return {
    images,
    latents,
    timings: { encodeMs: encoded - started, stepMs, decodeMs: finished - decodeStarted, totalMs: finished - started }
  }
}

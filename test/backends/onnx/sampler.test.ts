/**
 * Goal: sampling is a pure function of its inputs (same seed, same bytes), prompts and seeds
 * change the image, guidance at scale 1 is the conditional path, stacking the two guidance
 * branches in one run equals running them apart (so a CFG-parallel split changes no output), a
 * batched output equals the same output sampled alone, and the ORT pipeline follows the
 * TypeScript reference pipeline through a whole run.
 * Method: the small model on 16x16 images with a few steps, on ONNX Runtime's CPU provider.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { toRgbBytes } from "../../../backends/onnx/decoder.ts"
import { buildModel } from "../../../backends/onnx/model.ts"
import { makeReferencePipeline, type Pipeline } from "../../../backends/onnx/pipeline.ts"
import {
  guidedNoise, initialLatents, predictBranch, predictStacked, prepareSampling, runSampling, type SamplingItem, type SamplingJob
} from "../../../backends/onnx/sampler.ts"
import { ddimStep } from "../../../backends/onnx/schedule.ts"
import { makeSessionPipeline, type ModelSessions, openSessions, releaseSessions } from "../../../backends/onnx/sessions.ts"
import { relativeError, sameBits, smallModel } from "./fixtures.ts"

const model = buildModel(smallModel)
const { config } = model
let sessions: ModelSessions
let pipeline: Pipeline
beforeAll(async () => {
  sessions = await Effect.runPromise(openSessions(model.graphs, ["cpu"]))
  pipeline = makeSessionPipeline(sessions, config.tokenCount)
})
afterAll(async () => { await Effect.runPromise(releaseSessions(sessions)) })

const fox: SamplingItem = { prompt: "a red fox in the snow", negativePrompt: "", seed: 42, outputIndex: 0 }
const job = (items: ReadonlyArray<SamplingItem>, guidanceScale: number | null = null): SamplingJob =>
  ({ items, height: 16, width: 16, steps: 4, guidanceScale })
const rgb = (images: Float32Array, item = 0) => toRgbBytes(images, item, 16, 16)

describe("runSampling", () => {
  it("gives bit-identical images for the same seed and prompt", async () => {
    const first = await runSampling(pipeline, config, job([fox]))
    const second = await runSampling(pipeline, config, job([fox]))
    expect(sameBits(first.images, second.images)).toBe(true)
    expect(first.timings.stepMs).toHaveLength(4)
  })

  it("gives a different image for a different prompt, and for a different seed", async () => {
    const base = rgb((await runSampling(pipeline, config, job([fox]))).images)
    const otherPrompt = rgb((await runSampling(pipeline, config, job([{ ...fox, prompt: "a blue car on a road" }]))).images)
    const otherSeed = rgb((await runSampling(pipeline, config, job([{ ...fox, seed: 43 }]))).images)
    expect(sameBits(base, otherPrompt)).toBe(false)
    expect(sameBits(base, otherSeed)).toBe(false)
  })

  // uncond + 1 * (cond - uncond) rounds differently from cond in the last bit now and then, so
  // the floats agree to rounding and the 8-bit pixels exactly.
  it("with guidance at scale 1 equals the conditional-only path", async () => {
    const conditional = await runSampling(pipeline, config, job([fox]))
    const guided = await runSampling(pipeline, config, job([{ ...fox, negativePrompt: "blurry, dark" }], 1))
    expect(relativeError(guided.images, conditional.images)).toBeLessThan(1e-5)
    expect(sameBits(rgb(guided.images), rgb(conditional.images))).toBe(true)
  })

  it("guidance above 1 with a negative prompt changes the image", async () => {
    const conditional = await runSampling(pipeline, config, job([fox]))
    const guided = await runSampling(pipeline, config, job([{ ...fox, negativePrompt: "blurry, dark" }], 5))
    expect(sameBits(rgb(guided.images), rgb(conditional.images))).toBe(false)
  })

  it("stacking both guidance branches in one run gives the same bits as running them apart", async () => {
    const guidedJob = job([fox, { ...fox, prompt: "a castle", seed: 7 }], 4)
    const stacked = await runSampling(pipeline, config, guidedJob, { stackBranches: true })
    const apart = await runSampling(pipeline, config, guidedJob, { stackBranches: false })
    expect(sameBits(stacked.images, apart.images)).toBe(true)
  })

  // ORT's kernels may take another path for one row than for several (the text encoder's Gemm
  // does), so a batched output agrees with its solo run to rounding, and exactly in 8 bits.
  it("a batched output equals the same output sampled alone", async () => {
    const castle: SamplingItem = { prompt: "a castle on a hill", negativePrompt: "", seed: 9, outputIndex: 1 }
    const batched = await runSampling(pipeline, config, job([fox, castle]))
    const alone = await runSampling(pipeline, config, job([castle]))
    expect(relativeError(batched.images.slice(3 * 256), alone.images)).toBeLessThan(1e-5)
    expect(sameBits(rgb(batched.images, 1), rgb(alone.images))).toBe(true)
  })

  it("on ONNX Runtime follows the TypeScript reference pipeline through a whole guided run", async () => {
    const guidedJob = job([{ ...fox, negativePrompt: "blurry" }], 3)
    const onnx = await runSampling(pipeline, config, guidedJob)
    const reference = await runSampling(makeReferencePipeline(config, model.weights), config, guidedJob)
    expect(relativeError(onnx.images, reference.images)).toBeLessThan(1e-4)
  })
})

describe("the step loop in pieces (for a CFG-parallel split)", () => {
  it("two ranks that each predict one branch, exchange, combine and step get runSampling's latents", async () => {
    const guidedJob = job([{ ...fox, negativePrompt: "blurry" }], 6)
    const state = await prepareSampling(pipeline, config, guidedJob)
    let rank0 = state.initialLatents
    let rank1 = state.initialLatents
    for (let step = 0; step < guidedJob.steps; step++) {
      const cond = await predictBranch(pipeline, state, rank0, step, "cond")
      const uncond = await predictBranch(pipeline, state, rank1, step, "uncond")
      rank0 = ddimStep(state.schedule, step, rank0, guidedNoise(state, cond, uncond))
      rank1 = ddimStep(state.schedule, step, rank1, guidedNoise(state, cond, uncond))
    }
    expect(sameBits(rank0, rank1)).toBe(true)
    expect(sameBits(rank0, (await runSampling(pipeline, config, guidedJob)).latents)).toBe(true)
    const stacked = await predictStacked(pipeline, state, state.initialLatents, 0)
    expect(sameBits(stacked.cond, await predictBranch(pipeline, state, state.initialLatents, 0, "cond"))).toBe(true)
  })

  it("draws each row's initial noise from its own seed and output index, whatever its batch position", () => {
    const shape = { batch: 2, channels: 4, height: 2, width: 2 }
    const castle: SamplingItem = { prompt: "", negativePrompt: "", seed: 9, outputIndex: 1 }
    const pair = initialLatents(shape, [fox, castle])
    const swapped = initialLatents(shape, [castle, fox])
    expect(sameBits(pair.slice(0, 16), swapped.slice(16))).toBe(true)
    expect(sameBits(pair.slice(0, 16), initialLatents({ ...shape, batch: 1 }, [{ ...fox, outputIndex: 1 }]))).toBe(false)
  })
})

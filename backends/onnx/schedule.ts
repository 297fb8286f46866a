/**
 * The DDIM noise schedule and its deterministic update, as pure functions.
 *
 * Training noise levels follow Stable Diffusion's "scaled linear" betas over 1000 timesteps.
 * Sampling visits `steps` of them with "trailing" spacing (the first step is timestep 999, the
 * last lands near 0), and each step is DDIM with eta = 0: no fresh noise after the initial draw,
 * so a seed fixes the whole trajectory. Everything here is float64 arithmetic written back to
 * float32, element by element: two ranks running the same step on the same inputs (the
 * CFG-parallel split) get bit-identical latents.
 */
import { assert } from "../../core/assert.ts"

export const trainTimesteps = 1000
const betaStart = 0.00085
const betaEnd = 0.012

/** alpha-bar(t) for t in [0, 1000): the fraction of signal left at each training timestep. */
const alphasCumulative = (): Float64Array => {
  const alphas = new Float64Array(trainTimesteps)
  let product = 1
  for (let t = 0; t < trainTimesteps; t++) {
    const beta = (Math.sqrt(betaStart) + (Math.sqrt(betaEnd) - Math.sqrt(betaStart)) * t / (trainTimesteps - 1)) ** 2
    product *= 1 - beta
    alphas[t] = product
  }
  return alphas
}

/** The timesteps one sampling run visits, with alpha-bar at each and at the step after it. */
export interface DdimSchedule {
  readonly timesteps: ReadonlyArray<number>
  readonly alphas: ReadonlyArray<number>
  /** alpha-bar after the step; 1 after the last (a clean image). */
  readonly alphasNext: ReadonlyArray<number>
}

export const makeDdimSchedule = (steps: number): DdimSchedule => {
  assert(Number.isInteger(steps) && steps >= 1 && steps <= trainTimesteps, "steps lie in [1, 1000]")
  const cumulative = alphasCumulative()
  const timesteps = Array.from({ length: steps }, (_, index) => Math.round(trainTimesteps - index * trainTimesteps / steps) - 1)
  for (let index = 1; index < steps; index++) assert(timesteps[index] < timesteps[index - 1], "timesteps strictly descend")
  const alphas = timesteps.map((t) => cumulative[t])
  const alphasNext = timesteps.map((_, index) => index + 1 < steps ? cumulative[timesteps[index + 1]] : 1)
  return { timesteps, alphas, alphasNext }
}

/**
 * One DDIM step (eta = 0): estimate the clean latents from the predicted noise, then move them
 * to the next noise level along the same noise direction.
 */
export const ddimStep = (schedule: DdimSchedule, stepIndex: number, latents: Float32Array, noise: Float32Array): Float32Array => {
  assert(stepIndex >= 0 && stepIndex < schedule.timesteps.length, "the step lies in the schedule")
  assert(latents.length === noise.length, "the noise prediction is shaped like the latents")
  const alpha = schedule.alphas[stepIndex]
  const alphaNext = schedule.alphasNext[stepIndex]
  const [signal, noiseLevel] = [Math.sqrt(alpha), Math.sqrt(1 - alpha)]
  const [signalNext, noiseLevelNext] = [Math.sqrt(alphaNext), Math.sqrt(1 - alphaNext)]
  const out = new Float32Array(latents.length)
  for (let index = 0; index < latents.length; index++) {
    const clean = (latents[index] - noiseLevel * noise[index]) / signal
    out[index] = signalNext * clean + noiseLevelNext * noise[index]
  }
  return out
}

/**
 * Classifier-free guidance: uncond + scale * (cond - uncond). A pure function of its inputs, so
 * ranks that exchanged their halves combine them identically.
 */
export const combineGuidance = (cond: Float32Array, uncond: Float32Array, guidanceScale: number): Float32Array => {
  assert(cond.length === uncond.length, "both guidance branches have one shape")
  const out = new Float32Array(cond.length)
  for (let index = 0; index < cond.length; index++) out[index] = uncond[index] + guidanceScale * (cond[index] - uncond[index])
  return out
}

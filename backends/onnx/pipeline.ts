/**
 * A pipeline: the three model calls a sampler makes, whatever computes them.
 *
 * The sampler (sampler.ts) is written against this interface, so one sampling loop runs on ONNX
 * Runtime sessions (sessions.ts) and on the plain-TypeScript reference below, and a test can
 * compare the two. Arrays are flat, row-major, float32, with the batch first; every call is
 * asynchronous because ONNX Runtime's `run` is.
 */
import { referenceDecoder } from "./decoder.ts"
import { referenceDenoiser } from "./denoiser.ts"
import { referenceTextEncoder } from "./text-encoder.ts"
import type { ModelConfig, WeightSet } from "./weights.ts"

/** The latent tensor's shape: [batch, channels, height, width]. */
export interface LatentShape {
  readonly batch: number
  readonly channels: number
  readonly height: number
  readonly width: number
}

export interface NoiseInput {
  readonly shape: LatentShape
  readonly latents: Float32Array
  /** One timestep per batch item ([batch, 1]). */
  readonly timesteps: Float32Array
  /** One text embedding per batch item ([batch, textDim]). */
  readonly text: Float32Array
}

export interface Pipeline {
  /** Text embeddings [batch, textDim] of int64 tokens [batch, tokenCount]. */
  readonly encodeText: (tokens: BigInt64Array, batch: number) => Promise<Float32Array>
  /** The predicted noise, shaped like the latents. */
  readonly predictNoise: (input: NoiseInput) => Promise<Float32Array>
  /** RGB in [0, 1], [batch, 3, height * scaleFactor, width * scaleFactor]. */
  readonly decode: (latents: Float32Array, shape: LatentShape) => Promise<Float32Array>
}

/** The reference pipeline: the same math in plain TypeScript. Slow; for tests on small shapes. */
export const makeReferencePipeline = (config: ModelConfig, weights: WeightSet): Pipeline => {
  const dims = (shape: LatentShape) => [shape.batch, shape.channels, shape.height, shape.width] as const
  return {
    encodeText: async (tokens) => referenceTextEncoder(config, weights, tokens),
    predictNoise: async (input) =>
      referenceDenoiser(config, weights, { latents: { shape: dims(input.shape), data: input.latents }, timesteps: input.timesteps, text: input.text }).data,
    decode: async (latents, shape) => referenceDecoder(weights, { shape: dims(shape), data: latents }).data
  }
}

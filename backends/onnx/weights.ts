/**
 * The model's shape and its weights: every tensor the three graphs hold, generated from a seed.
 *
 * There is no model hub here, so the weights are random, drawn per tensor from the stream
 * `weight:<name>` of the model seed (core/random.ts), scaled by 1/sqrt(fan-in) so activations
 * keep a useful range through the layers. A stream per tensor means that widening one layer does
 * not change any other tensor. Only generation uses the seed: a worker reads the weights back out
 * of the `.onnx` files it loads.
 *
 * Names are `<graph>.<layer>.<part>`. Matrices are stored `[out, in]` (Gemm with transB = 1) and
 * convolutions `[out, in, kh, kw]`, which flattens row-major to the matrix `[out, in * kh * kw]`:
 * the view LoRA patches (lora.ts).
 */
import { assert } from "../../core/assert.ts"
import { makeStream } from "../../core/random.ts"
import { normals } from "./gaussian.ts"
import type { FloatTensor } from "./graph.ts"

/** The model's hyperparameters. The image is `scaleFactor` times the latents on each side. */
export interface ModelConfig {
  readonly seed: number
  readonly latentChannels: number
  /** Width of the text embedding. */
  readonly textDim: number
  readonly vocabSize: number
  /** Tokens per prompt, after padding or truncation. */
  readonly tokenCount: number
  /** Sinusoid features of the timestep embedding (sin and cos halves). */
  readonly timeDim: number
  readonly hiddenChannels: number
  readonly decoderChannels: number
  readonly scaleFactor: number
}

export const defaultModelConfig: Omit<ModelConfig, "seed"> = {
  latentChannels: 4,
  textDim: 32,
  vocabSize: 512,
  tokenCount: 16,
  timeDim: 16,
  hiddenChannels: 32,
  decoderChannels: 8,
  scaleFactor: 8
}

export type ModelOptions = Partial<ModelConfig> & { readonly seed: number }

export const resolveModelConfig = (options: ModelOptions): ModelConfig => {
  const config = { ...defaultModelConfig, ...options }
  for (const [key, value] of Object.entries(config)) {
    assert(Number.isInteger(value) && value >= 0, `model config ${key} is a non-negative integer`)
  }
  assert(config.timeDim % 2 === 0, "the timestep embedding has as many sin as cos features")
  assert(config.vocabSize >= 2, "the vocabulary holds the padding token and at least one word")
  return config
}

/** Every weight of the model, by name. */
export type WeightSet = ReadonlyMap<string, FloatTensor>

export type GraphName = "textEncoder" | "denoiser" | "decoder"

interface WeightSpec {
  readonly name: string
  readonly graph: GraphName
  readonly dims: ReadonlyArray<number>
  /** Standard deviation of the draw; biases get a small fixed one. */
  readonly scale: number
}

const product = (dims: ReadonlyArray<number>) => dims.reduce((a, b) => a * b, 1)
const matrixScale = (fanIn: number) => 1 / Math.sqrt(fanIn)
const biasScale = 0.1

/** The random weights, in graph order. The timestep frequencies are fixed (see `timeFrequencies`). */
const weightSpecs = (config: ModelConfig): ReadonlyArray<WeightSpec> => {
  const { latentChannels: c, textDim: d, timeDim: t, hiddenChannels: h, decoderChannels: k, scaleFactor: s } = config
  const layer = (graph: GraphName, name: string, dims: ReadonlyArray<number>, gain = 1): Array<WeightSpec> => [
    { name: `${name}.weight`, graph, dims, scale: gain * matrixScale(product(dims.slice(1))) },
    { name: `${name}.bias`, graph, dims: [dims[0]], scale: biasScale }
  ]
  return [
    { name: "text.embedding", graph: "textEncoder", dims: [config.vocabSize, d], scale: 1 },
    ...layer("textEncoder", "text.projection", [d, d]),
    // Large enough that the prompt visibly moves the image through the per-channel shift.
    ...layer("denoiser", "denoiser.cond", [h, t + d], 3),
    ...layer("denoiser", "denoiser.conv_in", [h, c, 3, 3]),
    ...layer("denoiser", "denoiser.conv_mid", [h, h, 3, 3]),
    // Small, so the predicted noise stays near its skip connection (see denoiser.ts).
    ...layer("denoiser", "denoiser.conv_out", [c, h, 3, 3], 0.5),
    // ConvTranspose weights are [in, out, kh, kw]: fan-in is the input channels.
    { name: "decoder.upsample.weight", graph: "decoder", dims: [c, k, s, s], scale: matrixScale(c) },
    { name: "decoder.upsample.bias", graph: "decoder", dims: [k], scale: biasScale },
    ...layer("decoder", "decoder.conv", [3, k, 3, 3])
  ]
}

/** Frequencies of the sinusoidal timestep embedding: 1000^(-i / half), i < half. */
export const timeFrequencies = (config: ModelConfig): FloatTensor => {
  const half = config.timeDim / 2
  const data = new Float32Array(half)
  for (let index = 0; index < half; index++) data[index] = Math.pow(1000, -index / half)
  return { dims: [1, half], data }
}

/** The graph each weight belongs to, and the names of every weight (frequencies included). */
export const weightLayout = (config: ModelConfig): ReadonlyArray<{ readonly name: string; readonly graph: GraphName; readonly dims: ReadonlyArray<number> }> => [
  ...weightSpecs(config).map(({ name, graph, dims }) => ({ name, graph, dims })),
  { name: "denoiser.time.frequencies", graph: "denoiser" as const, dims: timeFrequencies(config).dims }
]

/** Generates every weight of the model from its seed. */
export const makeWeights = (config: ModelConfig): WeightSet => {
  const weights = new Map<string, FloatTensor>()
  for (const spec of weightSpecs(config)) {
    const prng = makeStream(config.seed, `weight:${spec.name}`)
    weights.set(spec.name, { dims: spec.dims, data: normals(prng, product(spec.dims), spec.scale) })
  }
  weights.set("denoiser.time.frequencies", timeFrequencies(config))
  return weights
}

/** A weight that must exist: a missing one is a bug in the graph code, not a user error. */
export const weightOf = (weights: WeightSet, name: string): FloatTensor => {
  const tensor = weights.get(name)
  assert(tensor !== undefined, `weight '${name}' exists`)
  return tensor
}

/** Bytes of the float32 data of every weight. */
export const weightBytes = (weights: WeightSet): number =>
  [...weights.values()].reduce((total, tensor) => total + tensor.data.byteLength, 0)

/** The weights LoRA may patch, as matrices `[rows = out, columns = in]`: the denoiser's layers. */
export const loraTargets = (config: ModelConfig): ReadonlyArray<{ readonly name: string; readonly rows: number; readonly columns: number }> =>
  weightSpecs(config)
    .filter((spec) => spec.graph === "denoiser" && spec.name.endsWith(".weight"))
    .map((spec) => ({ name: spec.name, rows: spec.dims[0], columns: product(spec.dims.slice(1)) }))

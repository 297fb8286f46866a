/**
 * The denoiser: predicts the noise in latents at a timestep, conditioned on a text embedding.
 *
 * Graph, with B the batch and h x w the latent size (both symbolic, so one file serves every
 * batch and image size):
 *
 *   timestep [B, 1] x frequencies → sin, cos → time embedding [B, timeDim]
 *   concat(time embedding, text [B, textDim]) → Gemm(cond) → [B, hidden] → reshape [B, hidden, 1, 1]
 *   latents [B, C, h, w] → Conv3x3(conv_in) + cond per channel → SiLU = x1
 *   x1 → Conv3x3(conv_mid) → SiLU, + x1 (residual) → Conv3x3(conv_out) + latents = noise [B, C, h, w]
 *
 * The final skip (noise = f(...) + latents) is there because the weights are random: a DDIM step
 * divides by sqrt(alpha) (about 0.07 at the noisiest timestep), and with a prediction near the
 * latents themselves the sampler's iterates stay bounded instead of growing into saturated pixels.
 */
import { GraphBuilder, intAttribute, intsAttribute } from "./graph.ts"
import { type Activation, addArrays, addPerChannel, conv2d, gemmTransposed, mapValues, silu } from "./kernels.ts"
import { type ModelConfig, type WeightSet, weightOf } from "./weights.ts"

export const denoiserInputs = { latents: "latents", timestep: "timestep", text: "text" } as const
export const denoiserOutput = "noise"

const convAttributes = { kernel_shape: intsAttribute([3, 3]), pads: intsAttribute([1, 1, 1, 1]) }

/** The denoiser's ModelProto bytes, from `weights` (base or LoRA-patched). */
export const buildDenoiser = (config: ModelConfig, weights: WeightSet): Uint8Array => {
  const graph = new GraphBuilder("rankwise-denoiser")
  const weight = (name: string) => graph.weight(name, weightOf(weights, name))
  const latents = graph.input(denoiserInputs.latents, "float32", ["batch", config.latentChannels, "latent_height", "latent_width"])
  const timestep = graph.input(denoiserInputs.timestep, "float32", ["batch", 1])
  const text = graph.input(denoiserInputs.text, "float32", ["batch", config.textDim])

  const angles = graph.node("Mul", [timestep, weight("denoiser.time.frequencies")], "time_angles")
  const timeEmbedding = graph.node("Concat", [graph.node("Sin", [angles], "time_sin"), graph.node("Cos", [angles], "time_cos")], "time_embedding", { axis: intAttribute(1) })
  const condInput = graph.node("Concat", [timeEmbedding, text], "cond_input", { axis: intAttribute(1) })
  const cond = graph.node("Gemm", [condInput, weight("denoiser.cond.weight"), weight("denoiser.cond.bias")], "cond", { transB: intAttribute(1) })
  // Reshape's 0 keeps the batch dimension as it is.
  const condChannels = graph.node("Reshape", [cond, graph.int64Constant("cond_shape", [0, -1, 1, 1])], "cond_channels")

  const silu = (input: string, name: string) => graph.node("Mul", [input, graph.node("Sigmoid", [input], `${name}_gate`)], name)
  const conv = (input: string, layer: string) =>
    graph.node("Conv", [input, weight(`denoiser.${layer}.weight`), weight(`denoiser.${layer}.bias`)], layer, convAttributes)

  const x1 = silu(graph.node("Add", [conv(latents, "conv_in"), condChannels], "conditioned"), "x1")
  const x3 = graph.node("Add", [silu(conv(x1, "conv_mid"), "x2"), x1], "x3")
  graph.node("Add", [conv(x3, "conv_out"), latents], denoiserOutput)
  graph.output(denoiserOutput, "float32", ["batch", config.latentChannels, "latent_height", "latent_width"])
  return graph.encode()
}

/** The reference of the same math, for checking the graph on small shapes. */
export const referenceDenoiser = (
  config: ModelConfig,
  weights: WeightSet,
  input: { readonly latents: Activation; readonly timesteps: Float32Array; readonly text: Float32Array }
): Activation => {
  const batch = input.latents.shape[0]
  const frequencies = weightOf(weights, "denoiser.time.frequencies").data
  const condInput = new Float32Array(batch * (config.timeDim + config.textDim))
  const half = config.timeDim / 2
  const width = config.timeDim + config.textDim
  for (let b = 0; b < batch; b++) {
    for (let index = 0; index < half; index++) {
      // The product is rounded to float32 first, as the graph's Mul output is float32.
      const angle = Math.fround(input.timesteps[b] * frequencies[index])
      condInput[b * width + index] = Math.sin(angle)
      condInput[b * width + half + index] = Math.cos(angle)
    }
    for (let index = 0; index < config.textDim; index++) condInput[b * width + config.timeDim + index] = input.text[b * config.textDim + index]
  }
  const cond = gemmTransposed(condInput, batch, weightOf(weights, "denoiser.cond.weight"), weightOf(weights, "denoiser.cond.bias"))
  const conv = (activation: Activation, layer: string) =>
    conv2d(activation, weightOf(weights, `denoiser.${layer}.weight`), weightOf(weights, `denoiser.${layer}.bias`), 1)
  const conditioned = addPerChannel(conv(input.latents, "conv_in"), cond)
  const x1: Activation = { shape: conditioned.shape, data: mapValues(conditioned.data, silu) }
  const x3: Activation = { shape: x1.shape, data: addArrays(mapValues(conv(x1, "conv_mid").data, silu), x1.data) }
  const out = conv(x3, "conv_out")
  return { shape: out.shape, data: addArrays(out.data, input.latents.data) }
}

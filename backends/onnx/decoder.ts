/**
 * The decoder: latents [B, C, h, w] → RGB [B, 3, h * scaleFactor, w * scaleFactor] in [0, 1].
 *
 * Graph: ConvTranspose with kernel = stride = scaleFactor (each latent pixel paints its own
 * patch) → SiLU → Conv3x3 to three channels → Sigmoid. A stride-equals-kernel upsampling has a
 * short reference (no overlapping patches), and the 3x3 conv after it blends patch borders.
 * Pixels become bytes in `toRgbBytes`, outside the graph, so the graph's output stays float and
 * comparable with the reference.
 */
import { assert } from "../../core/assert.ts"
import { GraphBuilder, intsAttribute } from "./graph.ts"
import { type Activation, conv2d, convTransposePatches, mapValues, sigmoid, silu } from "./kernels.ts"
import { type ModelConfig, type WeightSet, weightOf } from "./weights.ts"

export const decoderInput = "latents"
export const decoderOutput = "image"

/** The decoder's ModelProto bytes. */
export const buildDecoder = (config: ModelConfig, weights: WeightSet): Uint8Array => {
  const graph = new GraphBuilder("rankwise-decoder")
  const weight = (name: string) => graph.weight(name, weightOf(weights, name))
  const latents = graph.input(decoderInput, "float32", ["batch", config.latentChannels, "latent_height", "latent_width"])
  const factor = config.scaleFactor
  const upsampled = graph.node("ConvTranspose", [latents, weight("decoder.upsample.weight"), weight("decoder.upsample.bias")], "upsampled", {
    kernel_shape: intsAttribute([factor, factor]),
    strides: intsAttribute([factor, factor])
  })
  const activated = graph.node("Mul", [upsampled, graph.node("Sigmoid", [upsampled], "upsampled_gate")], "activated")
  const rgb = graph.node("Conv", [activated, weight("decoder.conv.weight"), weight("decoder.conv.bias")], "rgb", {
    kernel_shape: intsAttribute([3, 3]),
    pads: intsAttribute([1, 1, 1, 1])
  })
  graph.node("Sigmoid", [rgb], decoderOutput)
  graph.output(decoderOutput, "float32", ["batch", 3, "height", "width"])
  return graph.encode()
}

/** The reference of the same math. */
export const referenceDecoder = (weights: WeightSet, latents: Activation): Activation => {
  const upsampled = convTransposePatches(latents, weightOf(weights, "decoder.upsample.weight"), weightOf(weights, "decoder.upsample.bias"))
  const activated: Activation = { shape: upsampled.shape, data: mapValues(upsampled.data, silu) }
  const rgb = conv2d(activated, weightOf(weights, "decoder.conv.weight"), weightOf(weights, "decoder.conv.bias"), 1)
  return { shape: rgb.shape, data: mapValues(rgb.data, sigmoid) }
}

/**
 * Item `item` of a decoded batch as interleaved 8-bit RGB (row-major, 3 bytes a pixel), the
 * layout PNG and most viewers expect. Values are clamped to [0, 1] and rounded.
 */
export const toRgbBytes = (image: Float32Array, item: number, height: number, width: number): Uint8Array => {
  const plane = height * width
  assert(image.length >= (item + 1) * 3 * plane, "the decoded batch holds the item")
  const out = new Uint8Array(plane * 3)
  for (let pixel = 0; pixel < plane; pixel++) {
    for (let channel = 0; channel < 3; channel++) {
      const value = image[(item * 3 + channel) * plane + pixel]
      out[pixel * 3 + channel] = Math.round(Math.min(1, Math.max(0, value)) * 255)
    }
  }
  return out
}

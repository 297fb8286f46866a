/**
 * Plain-TypeScript versions of the ONNX operators the model uses, for the reference model.
 *
 * The reference (reference.ts) recomputes each graph with these loops so a test can check that
 * ONNX Runtime computes what the graph builder meant: a wrong attribute, a transposed weight or a
 * swapped input shows up as a numeric mismatch. They accumulate in float64 and are written for
 * clarity on small shapes, not speed. Layout is NCHW, as in the graphs.
 */
import { assert } from "../../core/assert.ts"
import type { FloatTensor } from "./graph.ts"

/** A dense NCHW activation. */
export interface Activation {
  readonly shape: readonly [number, number, number, number]
  readonly data: Float32Array
}

/** Stride-1 convolution with `pad` zeros on each side (Conv with pads [p, p, p, p]). */
export const conv2d = (input: Activation, weight: FloatTensor, bias: FloatTensor, pad: number): Activation => {
  const [batch, channelsIn, height, width] = input.shape
  const [channelsOut, weightIn, kernelHeight, kernelWidth] = weight.dims
  assert(weightIn === channelsIn, "conv weight input channels match the activation")
  const outHeight = height + 2 * pad - kernelHeight + 1
  const outWidth = width + 2 * pad - kernelWidth + 1
  const out = new Float32Array(batch * channelsOut * outHeight * outWidth)
  const at = (b: number, c: number, y: number, x: number) =>
    y < 0 || y >= height || x < 0 || x >= width ? 0 : input.data[((b * channelsIn + c) * height + y) * width + x]
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < channelsOut; o++) {
      for (let y = 0; y < outHeight; y++) {
        for (let x = 0; x < outWidth; x++) {
          let sum = bias.data[o]
          for (let c = 0; c < channelsIn; c++) {
            for (let ky = 0; ky < kernelHeight; ky++) {
              for (let kx = 0; kx < kernelWidth; kx++) {
                sum += weight.data[((o * channelsIn + c) * kernelHeight + ky) * kernelWidth + kx] * at(b, c, y + ky - pad, x + kx - pad)
              }
            }
          }
          out[((b * channelsOut + o) * outHeight + y) * outWidth + x] = sum
        }
      }
    }
  }
  return { shape: [batch, channelsOut, outHeight, outWidth], data: out }
}

/**
 * ConvTranspose with stride equal to its kernel: each input pixel paints its own k x k patch, so
 * patches never overlap. Weight is `[in, out, k, k]`, as ONNX stores ConvTranspose weights.
 */
export const convTransposePatches = (input: Activation, weight: FloatTensor, bias: FloatTensor): Activation => {
  const [batch, channelsIn, height, width] = input.shape
  const [weightIn, channelsOut, kernel, kernelWidth] = weight.dims
  assert(weightIn === channelsIn, "conv-transpose weight input channels match the activation")
  assert(kernel === kernelWidth, "the patch is square")
  const outHeight = height * kernel
  const outWidth = width * kernel
  const out = new Float32Array(batch * channelsOut * outHeight * outWidth)
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < channelsOut; o++) {
      for (let y = 0; y < outHeight; y++) {
        for (let x = 0; x < outWidth; x++) {
          const [sourceY, sourceX, ky, kx] = [Math.floor(y / kernel), Math.floor(x / kernel), y % kernel, x % kernel]
          let sum = bias.data[o]
          for (let c = 0; c < channelsIn; c++) {
            sum += input.data[((b * channelsIn + c) * height + sourceY) * width + sourceX] *
              weight.data[((c * channelsOut + o) * kernel + ky) * kernel + kx]
          }
          out[((b * channelsOut + o) * outHeight + y) * outWidth + x] = sum
        }
      }
    }
  }
  return { shape: [batch, channelsOut, outHeight, outWidth], data: out }
}

/** Gemm with transB = 1: `[rows, in] x [out, in]^T + bias` → `[rows, out]`. */
export const gemmTransposed = (input: Float32Array, rows: number, weight: FloatTensor, bias: FloatTensor): Float32Array => {
  const [outputs, inputs] = weight.dims
  assert(input.length === rows * inputs, "gemm input is [rows, in]")
  const out = new Float32Array(rows * outputs)
  for (let row = 0; row < rows; row++) {
    for (let o = 0; o < outputs; o++) {
      let sum = bias.data[o]
      for (let i = 0; i < inputs; i++) sum += input[row * inputs + i] * weight.data[o * inputs + i]
      out[row * outputs + o] = sum
    }
  }
  return out
}

export const sigmoid = (value: number): number => 1 / (1 + Math.exp(-value))
export const silu = (value: number): number => value * sigmoid(value)

/** Applies `f` to every element, into a new array. */
export const mapValues = (data: Float32Array, f: (value: number) => number): Float32Array => data.map(f)

/** Elementwise sum of two equal-shaped arrays. */
export const addArrays = (a: Float32Array, b: Float32Array): Float32Array => {
  assert(a.length === b.length, "added arrays have one shape")
  return a.map((value, index) => value + b[index])
}

/** Adds `perChannel[b, c]` to every pixel of channel c of item b (broadcast of [B, C, 1, 1]). */
export const addPerChannel = (input: Activation, perChannel: Float32Array): Activation => {
  const [batch, channels, height, width] = input.shape
  assert(perChannel.length === batch * channels, "one value per item and channel")
  const plane = height * width
  return { shape: input.shape, data: input.data.map((value, index) => value + perChannel[Math.floor(index / plane)]) }
}

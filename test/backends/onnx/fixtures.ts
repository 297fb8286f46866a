/**
 * Shared fixtures of the ONNX backend tests: a small model config, temporary directories,
 * requests and batches, and a float comparison with a relative tolerance.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Buffer } from "node:buffer"
import type { BatchRequest } from "../../../core/worker.ts"

/** Smaller than the defaults so reference loops and sessions stay fast. */
export const smallModel = { seed: 11, hiddenChannels: 8, textDim: 16, vocabSize: 64, tokenCount: 8, timeDim: 8, decoderChannels: 4 } as const

/** A fresh temporary directory and a function that removes it. */
export const makeTempDir = async (prefix: string) => {
  const dir = await mkdtemp(join(tmpdir(), `rankwise-onnx-${prefix}-`))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

export const imageRequest = (overrides: Partial<BatchRequest> = {}): BatchRequest => ({
  requestId: "r1",
  prompt: "a red fox in the snow",
  height: 16,
  width: 16,
  frames: 1,
  fps: 0,
  steps: 3,
  guidanceScale: 1,
  seed: 42,
  outputsPerPrompt: 1,
  outputType: "image",
  ...overrides
})

/**
 * The largest elementwise |actual - expected| / (|expected| + floor), where the floor is the mean
 * magnitude of `expected`: a relative error that stays meaningful for values near zero.
 */
export const relativeError = (actual: Float32Array, expected: Float32Array): number => {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY
  const floor = expected.reduce((total, value) => total + Math.abs(value), 0) / expected.length
  let worst = 0
  for (let index = 0; index < expected.length; index++) {
    worst = Math.max(worst, Math.abs(actual[index] - expected[index]) / (Math.abs(expected[index]) + floor))
  }
  return worst
}

export const sameBits = (a: Float32Array | Uint8Array, b: Float32Array | Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

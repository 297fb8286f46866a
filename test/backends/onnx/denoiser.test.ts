/**
 * Goal: ONNX Runtime computes the denoiser graph exactly as the plain-TypeScript reference does
 * (within float32 tolerance), and the timestep and text inputs really condition the output.
 * Method: random latents on a small non-square shape (a swapped axis would show), two batch items
 * at different timesteps, compared elementwise with a 1e-4 relative tolerance.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeStream } from "../../../core/random.ts"
import { referenceDenoiser } from "../../../backends/onnx/denoiser.ts"
import { normals } from "../../../backends/onnx/gaussian.ts"
import { buildModel } from "../../../backends/onnx/model.ts"
import type { LatentShape } from "../../../backends/onnx/pipeline.ts"
import { makeSessionPipeline, type ModelSessions, openSessions, releaseSessions } from "../../../backends/onnx/sessions.ts"
import { relativeError, smallModel } from "./fixtures.ts"

const model = buildModel(smallModel)
let sessions: ModelSessions
beforeAll(async () => { sessions = await Effect.runPromise(openSessions(model.graphs, ["cpu"])) })
afterAll(async () => { await Effect.runPromise(releaseSessions(sessions)) })

const shape: LatentShape = { batch: 2, channels: model.config.latentChannels, height: 3, width: 5 }
const size = shape.batch * shape.channels * shape.height * shape.width
const input = {
  latents: normals(makeStream(1, "latents"), size),
  timesteps: Float32Array.of(999, 10),
  text: normals(makeStream(1, "text"), shape.batch * model.config.textDim, 0.5)
}
const predict = (overrides: Partial<typeof input> = {}) =>
  makeSessionPipeline(sessions, model.config.tokenCount).predictNoise({ shape, ...input, ...overrides })

describe("denoiser", () => {
  it("ORT output equals the TypeScript reference within 1e-4 relative", async () => {
    const expected = referenceDenoiser(model.config, model.weights, {
      latents: { shape: [shape.batch, shape.channels, shape.height, shape.width], data: input.latents },
      timesteps: input.timesteps,
      text: input.text
    })
    expect(expected.shape).toEqual([2, 4, 3, 5])
    expect(relativeError(await predict(), expected.data)).toBeLessThan(1e-4)
  })

  it("the prediction depends on the timestep and on the text embedding", async () => {
    const base = await predict()
    expect(relativeError(await predict({ timesteps: Float32Array.of(500, 10) }), base)).toBeGreaterThan(1e-3)
    expect(relativeError(await predict({ text: input.text.map((value) => -value) }), base)).toBeGreaterThan(1e-3)
  })
})

/**
 * Goal: ONNX Runtime computes the decoder graph as the TypeScript reference does, and pixels
 * become bytes by clamping and rounding.
 * Method: random latents on a non-square shape compared with a 1e-4 relative tolerance; exact
 * byte checks for the conversion.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeStream } from "../../../core/random.ts"
import { referenceDecoder, toRgbBytes } from "../../../backends/onnx/decoder.ts"
import { normals } from "../../../backends/onnx/gaussian.ts"
import { buildModel } from "../../../backends/onnx/model.ts"
import { makeSessionPipeline, type ModelSessions, openSessions, releaseSessions } from "../../../backends/onnx/sessions.ts"
import { relativeError, smallModel } from "./fixtures.ts"

const model = buildModel(smallModel)
let sessions: ModelSessions
beforeAll(async () => { sessions = await Effect.runPromise(openSessions(model.graphs, ["cpu"])) })
afterAll(async () => { await Effect.runPromise(releaseSessions(sessions)) })

describe("decoder", () => {
  it("ORT output equals the TypeScript reference within 1e-4 relative, at scaleFactor times the latent size", async () => {
    const shape = { batch: 2, channels: model.config.latentChannels, height: 2, width: 3 }
    const latents = normals(makeStream(2, "latents"), 2 * shape.channels * 6)
    const image = await makeSessionPipeline(sessions, model.config.tokenCount).decode(latents, shape)
    const expected = referenceDecoder(model.weights, { shape: [2, shape.channels, 2, 3], data: latents })
    expect(expected.shape).toEqual([2, 3, 16, 24])
    expect(relativeError(image, expected.data)).toBeLessThan(1e-4)
    expect(image.every((value) => value > 0 && value < 1)).toBe(true)
  })

  it("toRgbBytes interleaves channels, clamps to [0, 1] and rounds", () => {
    // One item of 1x2 pixels: planes R = [0, 1], G = [0.5, 2], B = [-1, 0.2].
    const image = Float32Array.of(0, 1, 0.5, 2, -1, 0.2)
    expect([...toRgbBytes(image, 0, 1, 2)]).toEqual([0, 128, 0, 255, 255, 51])
  })
})

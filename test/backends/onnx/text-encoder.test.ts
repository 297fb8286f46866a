/**
 * Goal: the tokenizer is deterministic with a fixed length and the vocabulary's id range, and
 * ONNX Runtime computes the text encoder as the TypeScript reference does.
 * Method: fast-check properties over prompts; one ORT run compared with the reference.
 */
import { fc, test } from "@fast-check/vitest"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildModel } from "../../../backends/onnx/model.ts"
import { makeSessionPipeline, type ModelSessions, openSessions, releaseSessions } from "../../../backends/onnx/sessions.ts"
import { referenceTextEncoder, tokenize, tokenizeBatch } from "../../../backends/onnx/text-encoder.ts"
import { relativeError, smallModel } from "./fixtures.ts"

const model = buildModel(smallModel)
const { config } = model
let sessions: ModelSessions
beforeAll(async () => { sessions = await Effect.runPromise(openSessions(model.graphs, ["cpu"])) })
afterAll(async () => { await Effect.runPromise(releaseSessions(sessions)) })

describe("tokenize", () => {
  test.prop([fc.string({ unit: "grapheme", maxLength: 80 })])("gives tokenCount ids in [0, vocabSize), the same each time", (prompt) => {
    const tokens = tokenize(prompt, config)
    expect(tokens.length).toBe(config.tokenCount)
    expect(tokens.every((token) => token >= 0 && token < config.vocabSize)).toBe(true)
    expect(tokenize(prompt, config)).toEqual(tokens)
  })

  it("splits at whitespace, ignores case, pads with 0 and truncates", () => {
    const tokens = tokenize("Red  fox\tred", config)
    expect(tokens[0]).toBe(tokens[2])
    expect(tokens[0]).not.toBe(0)
    expect([...tokens.subarray(3)]).toEqual(new Array(config.tokenCount - 3).fill(0))
    expect(tokenize("", config).every((token) => token === 0)).toBe(true)
    expect(tokenize(Array.from({ length: 40 }, (_, index) => `w${index}`).join(" "), config).every((token) => token !== 0)).toBe(true)
  })
})

describe("text encoder", () => {
  it("ORT output equals the TypeScript reference within 1e-4 relative", async () => {
    const tokens = tokenizeBatch(["a red fox", "", "a blue car on a road"], config)
    const text = await makeSessionPipeline(sessions, config.tokenCount).encodeText(tokens, 3)
    expect(text.length).toBe(3 * config.textDim)
    expect(relativeError(text, referenceTextEncoder(config, model.weights, tokens))).toBeLessThan(1e-4)
  })
})

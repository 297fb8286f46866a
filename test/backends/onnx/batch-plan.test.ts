/**
 * Goal: a batch becomes one sampling job with prompt-major rows, guidance only when core's
 * compatibility rule turns it on, and a clear ModelError for what this model cannot run; the
 * reply is plain JSON whose pixels decode back.
 * Method: example batches built from the fixtures' request.
 */
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { imageOutput, itemRgb, planBatch } from "../../../backends/onnx/batch-plan.ts"
import { resolveModelConfig } from "../../../backends/onnx/weights.ts"
import { imageRequest, smallModel } from "./fixtures.ts"

const config = resolveModelConfig(smallModel)
const reasonOf = (result: Result.Result<unknown, { readonly reason: string }>) => Result.isFailure(result) ? result.failure.reason : "planned"

describe("planBatch", () => {
  it("stacks outputs prompt-major, each with its own seed and output index", () => {
    const plan = planBatch({ batchId: 1, requests: [imageRequest({ outputsPerPrompt: 2 }), imageRequest({ requestId: "r2", seed: 7, outputsPerPrompt: 2 })] }, config)
    expect(Result.isSuccess(plan) && plan.success.rows).toEqual([
      { requestId: "r1", outputIndex: 0, seed: 42 }, { requestId: "r1", outputIndex: 1, seed: 42 },
      { requestId: "r2", outputIndex: 0, seed: 7 }, { requestId: "r2", outputIndex: 1, seed: 7 }
    ])
  })

  it("turns guidance on only with a negative prompt and a scale above 1", () => {
    const guidance = (overrides: Parameters<typeof imageRequest>[0]) => {
      const plan = planBatch({ batchId: 1, requests: [imageRequest(overrides)] }, config)
      return Result.isSuccess(plan) ? plan.success.job.guidanceScale : "refused"
    }
    expect(guidance({ guidanceScale: 5 })).toBe(null)
    expect(guidance({ guidanceScale: 1, negativePrompt: "dark" })).toBe(null)
    expect(guidance({ guidanceScale: 5, negativePrompt: "dark" })).toBe(5)
  })

  it("refuses mixed batches, other output types and sizes that are not multiples of 8", () => {
    expect(reasonOf(planBatch({ batchId: 3, requests: [imageRequest(), imageRequest({ requestId: "r2", steps: 9 })] }, config))).toMatch(/batch 3: request r2 is not compatible/)
    expect(reasonOf(planBatch({ batchId: 3, requests: [imageRequest({ outputType: "latents" })] }, config))).toMatch(/makes images, not latents/)
    expect(reasonOf(planBatch({ batchId: 3, requests: [imageRequest({ height: 20 })] }, config))).toMatch(/multiples of 8/)
    expect(reasonOf(planBatch({ batchId: 3, requests: [] }, config))).toMatch(/no request/)
  })
})

describe("imageOutput", () => {
  it("answers the legacy { image } dict with JSON-safe items whose base64 RGB decodes back", () => {
    const plan = planBatch({ batchId: 1, requests: [imageRequest({ height: 8, width: 8 })] }, config)
    if (!Result.isSuccess(plan)) throw new Error("planned")
    const output = imageOutput(plan.success, new Float32Array(3 * 64).fill(1))
    const [item] = JSON.parse(JSON.stringify(output)).image
    expect(item).toMatchObject({ requestId: "r1", outputIndex: 0, seed: 42, width: 8, height: 8, adapterId: null })
    expect(itemRgb(item)).toEqual(new Uint8Array(8 * 8 * 3).fill(255))
  })
})

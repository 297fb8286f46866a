/**
 * Goal: an adapter binds only to the model's LoRA targets with matching shapes, its patch is
 * W + s * scale * B A, and patching never changes the base weights.
 * Method: adapters from createLora over the model's targets; the patch checked against an
 * explicit product on one entry; LoraInvalid cases built by renaming and reshaping pairs.
 */
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { bindLora, createLora, patchWeights } from "../../../backends/onnx/lora.ts"
import { buildModel } from "../../../backends/onnx/model.ts"
import { loraTargets } from "../../../backends/onnx/weights.ts"
import { sameBits, smallModel } from "./fixtures.ts"

const model = buildModel(smallModel)
const targets = loraTargets(model.config)
const adapter = createLora({ seed: 5, rank: 2, targets, scale: 0.5 })

const reason = (result: Result.Result<number, { readonly reason: string }>) => Result.isFailure(result) ? result.failure.reason : "bound"

describe("bindLora", () => {
  it("binds every target of a well-formed adapter", () => {
    expect(targets.map((target) => target.name)).toEqual([
      "denoiser.cond.weight", "denoiser.conv_in.weight", "denoiser.conv_mid.weight", "denoiser.conv_out.weight"
    ])
    expect(bindLora(1, adapter, targets)).toEqual(Result.succeed(4))
  })

  it("refuses an adapter that binds no layer of the model", () => {
    const stranger = createLora({ seed: 5, rank: 2, targets: [{ name: "unet.down.0.weight", rows: 4, columns: 4 }], scale: 1 })
    expect(reason(bindLora(1, stranger, targets))).toMatch(/binds no layer/)
  })

  it("refuses an adapter that targets a layer the model lacks beside real ones", () => {
    const mixed = { ...adapter, pairs: [...adapter.pairs, { ...adapter.pairs[0], target: "denoiser.conv_extra.weight" }] }
    expect(reason(bindLora(1, mixed, targets))).toMatch(/conv_extra.*does not have/)
  })

  it("refuses pairs whose shapes do not match the weight", () => {
    const wrongTargets = targets.map((target) => ({ ...target, columns: target.columns + 1 }))
    const wrong = createLora({ seed: 5, rank: 2, targets: wrongTargets, scale: 1 })
    expect(reason(bindLora(1, wrong, targets))).toMatch(/A of denoiser.cond.weight is 2x\d+, expected 2x\d+/)
    const wrongRank = { ...adapter, rank: 3 }
    expect(reason(bindLora(1, wrongRank, targets))).toMatch(/expected 3x/)
  })
})

describe("patchWeights", () => {
  it("adds s * scale * B A to each target and leaves the base weights untouched", () => {
    const baseCopy = new Map([...model.weights].map(([name, tensor]) => [name, tensor.data.slice()]))
    const patched = patchWeights(model.weights, adapter, 2)
    for (const [name, tensor] of model.weights) expect(sameBits(tensor.data, baseCopy.get(name)!)).toBe(true)
    const pair = adapter.pairs[1]
    const [rows, rank] = pair.b.dims
    const columns = pair.a.dims[1]
    const [row, column] = [rows - 1, columns - 2]
    let delta = 0
    for (let k = 0; k < rank; k++) delta += pair.b.data[row * rank + k] * pair.a.data[k * columns + column]
    const base = model.weights.get(pair.target)!.data[row * columns + column]
    expect(patched.get(pair.target)!.data[row * columns + column]).toBeCloseTo(base + 2 * 0.5 * delta, 6)
    expect(patched.get(pair.target)!.dims).toEqual(model.weights.get(pair.target)!.dims)
    expect(patched.get("decoder.conv.weight")).toBe(model.weights.get("decoder.conv.weight"))
  })
})

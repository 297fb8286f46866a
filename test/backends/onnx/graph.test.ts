/**
 * Goal: models from the graph builder are ones ONNX Runtime accepts and computes as meant:
 * symbolic batch dimensions, FLOAT/INT/INTS attributes, float32 and int64 initializers; the
 * reader gets every weight back exactly; encoding is deterministic.
 * Method: tiny graphs run on the CPU provider and compared with hand or kernel results; the
 * model's own denoiser rebuilt from the weights read out of its bytes.
 */
import { Buffer } from "node:buffer"
import { Effect } from "effect"
import * as ort from "onnxruntime-node"
import { describe, expect, it } from "vitest"
import { buildDenoiser } from "../../../backends/onnx/denoiser.ts"
import { floatAttribute, GraphBuilder, intAttribute, intsAttribute, irVersion, opsetVersion, readFloatInitializers } from "../../../backends/onnx/graph.ts"
import { conv2d } from "../../../backends/onnx/kernels.ts"
import { buildModel } from "../../../backends/onnx/model.ts"
import { decodeFields, ProtoDecodeError } from "../../../backends/onnx/protobuf.ts"
import { openSession, releaseSession } from "../../../backends/onnx/sessions.ts"
import { relativeError, smallModel } from "./fixtures.ts"

const run = async (model: Uint8Array, feeds: Record<string, ort.Tensor>, output: string) => {
  const session = await Effect.runPromise(openSession(model, "cpu"))
  const result = await session.run(feeds)
  await Effect.runPromise(releaseSession(session))
  return result[output].data as Float32Array
}

describe("GraphBuilder", () => {
  it("writes IR version 8 and opset 17", () => {
    const graph = new GraphBuilder("g")
    graph.node("Identity", [graph.input("x", "float32", [1])], "y")
    graph.output("y", "float32", [1])
    const fields = decodeFields(graph.encode())
    expect(fields.find((field) => field.field === 1)).toMatchObject({ kind: "varint", value: BigInt(irVersion) })
    const opset = fields.find((field) => field.field === 8)
    expect(opset?.kind === "bytes" && decodeFields(opset.value)[0]).toMatchObject({ field: 2, value: BigInt(opsetVersion) })
  })

  it("builds a model ORT runs for any batch size (symbolic batch), with a float attribute", async () => {
    const graph = new GraphBuilder("add-leaky")
    const x = graph.input("x", "float32", ["batch", 2])
    const sum = graph.node("Add", [x, graph.weight("w", { dims: [1, 2], data: Float32Array.of(1, -3) })], "sum")
    graph.node("LeakyRelu", [sum], "y", { alpha: floatAttribute(0.5) })
    graph.output("y", "float32", ["batch", 2])
    const model = graph.encode()
    expect(await run(model, { x: new ort.Tensor("float32", Float32Array.of(1, 1), [1, 2]) }, "y")).toEqual(Float32Array.of(2, -1))
    const three = await run(model, { x: new ort.Tensor("float32", Float32Array.of(0, 0, 1, 5, -1, 3), [3, 2]) }, "y")
    expect([...three]).toEqual([1, -1.5, 2, 2, 0, 0])
  })

  it("passes INT and INTS attributes and int64 constants as ORT expects (Conv, Reshape, Gather)", async () => {
    const weight = { dims: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, index) => (index % 5) - 2) }
    const bias = { dims: [2], data: Float32Array.of(0.5, -0.5) }
    const graph = new GraphBuilder("conv")
    const x = graph.input("x", "float32", ["batch", 1, 4, 4])
    const conv = graph.node("Conv", [x, graph.weight("w", weight), graph.weight("b", bias)], "conv", {
      kernel_shape: intsAttribute([3, 3]), pads: intsAttribute([1, 1, 1, 1])
    })
    const flat = graph.node("Reshape", [conv, graph.int64Constant("shape", [0, -1])], "flat")
    graph.node("Gather", [flat, graph.int64Constant("picked", [0, 31])], "y", { axis: intAttribute(1) })
    graph.output("y", "float32", ["batch", 2])
    const input = Float32Array.from({ length: 16 }, (_, index) => index / 4)
    const expected = conv2d({ shape: [1, 1, 4, 4], data: input }, weight, bias, 1).data
    const y = await run(graph.encode(), { x: new ort.Tensor("float32", input, [1, 1, 4, 4]) }, "y")
    expect(relativeError(y, Float32Array.of(expected[0], expected[31]))).toBeLessThan(1e-6)
  })
})

describe("readFloatInitializers", () => {
  it("reads back every float weight exactly and skips int64 constants", () => {
    const model = buildModel(smallModel)
    const read = readFloatInitializers(model.graphs.denoiser)
    for (const [name, tensor] of read) {
      expect(model.weights.get(name)?.dims).toEqual(tensor.dims)
      expect(model.weights.get(name)?.data).toEqual(tensor.data)
    }
    expect([...read.keys()].sort()).toEqual([...model.weights.keys()].filter((name) => name.startsWith("denoiser.")).sort())
  })

  it("gives weights from which the same graph encodes to the same bytes", () => {
    const model = buildModel(smallModel)
    const rebuilt = buildDenoiser(model.config, readFloatInitializers(model.graphs.denoiser))
    expect(Buffer.from(rebuilt).equals(Buffer.from(model.graphs.denoiser))).toBe(true)
  })

  it("refuses bytes that are not a model", () => {
    expect(() => readFloatInitializers(Uint8Array.of(0x08, 0x01))).toThrow(ProtoDecodeError)
    expect(() => readFloatInitializers(buildModel(smallModel).graphs.decoder.subarray(0, 500))).toThrow(ProtoDecodeError)
  })
})

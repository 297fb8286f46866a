/**
 * Goal: an ONNX worker built without a LoRA manager (`lora: false`) answers LoraUnsupported to
 * every LoRA method, typed, and still generates images.
 * Method: one worker on a small model saved into a temporary directory.
 */
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { saveModel } from "../../../backends/onnx/model.ts"
import { makeOnnxWorker } from "../../../backends/onnx/worker.ts"
import { imageRequest, makeTempDir, smallModel } from "./fixtures.ts"

let root: Awaited<ReturnType<typeof makeTempDir>>
beforeAll(async () => {
  root = await makeTempDir("worker-lora")
  await saveModel(root.dir, smallModel)
})
afterAll(async () => { await root.remove() })

const errorOf = async (effect: Effect.Effect<unknown, unknown>) => {
  const exit = await Effect.runPromiseExit(effect)
  return Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error : "not a typed failure"
}

describe("an ONNX worker without LoRA", () => {
  it("answers LoraUnsupported to add, remove, pin and list, and keeps generating", async () => {
    const worker = makeOnnxWorker({ rank: 0, worldSize: 1, outputRank: 0, modelDir: root.dir, adapterDir: root.dir, providers: ["cpu"], lora: false })
    await Effect.runPromise(worker.load())
    expect(await errorOf(worker.addLora({ id: 1, name: "adapter-1" }))).toMatchObject({ _tag: "LoraUnsupported", method: "addLora" })
    expect(await errorOf(worker.removeLora(1))).toMatchObject({ _tag: "LoraUnsupported", method: "removeLora" })
    expect(await errorOf(worker.pinLora(1))).toMatchObject({ _tag: "LoraUnsupported", method: "pinLora" })
    expect(await errorOf(worker.listLoras())).toMatchObject({ _tag: "LoraUnsupported", method: "listLoras" })
    const reply = await Effect.runPromise(worker.execute({ batchId: 1, requests: [imageRequest()] }))
    expect(reply._tag).toBe("Output")
    await Effect.runPromise(worker.shutdown())
  })
})

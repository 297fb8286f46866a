/**
 * Goal: the conditioning cache (the ONNX worker's `kv_cache` pool) answers exactly what encoding
 * would, stays within its budget, and behaves as a memory pool of the contract: a worker with it
 * reports it in its bytes, a sleep drops it, a wake must name it (else IncompleteWake), and images
 * after the wake are bit-identical to those before.
 * Method: the small model; a counting pipeline for the cache alone, and one worker on temporary
 * model files for the pool.
 */
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ImageItem } from "../../../backends/onnx/batch-plan.ts"
import { buildModel, saveModel } from "../../../backends/onnx/model.ts"
import type { Pipeline } from "../../../backends/onnx/pipeline.ts"
import { makeSessionPipeline, type ModelSessions, openSessions, releaseSessions } from "../../../backends/onnx/sessions.ts"
import { makeTextCache, withTextCache } from "../../../backends/onnx/text-cache.ts"
import { tokenizeBatch } from "../../../backends/onnx/text-encoder.ts"
import { makeOnnxWorker } from "../../../backends/onnx/worker.ts"
import { imageRequest, makeTempDir, sameBits, smallModel } from "./fixtures.ts"

const model = buildModel(smallModel)
let sessions: ModelSessions
let root: Awaited<ReturnType<typeof makeTempDir>>
beforeAll(async () => {
  sessions = await Effect.runPromise(openSessions(model.graphs, ["cpu"]))
  root = await makeTempDir("text-cache")
  await saveModel(root.dir, model)
})
afterAll(async () => {
  await Effect.runPromise(releaseSessions(sessions))
  await root.remove()
})

const counting = (pipeline: Pipeline) => {
  let calls = 0
  return { pipeline: { ...pipeline, encodeText: (tokens: BigInt64Array, batch: number) => (calls++, pipeline.encodeText(tokens, batch)) }, calls: () => calls }
}

describe("withTextCache", () => {
  it("serves a repeated token batch from the cache, with the bits encoding gives", async () => {
    const base = makeSessionPipeline(sessions, model.config.tokenCount)
    const { pipeline, calls } = counting(base)
    const cache = makeTextCache(1 << 20)
    const cached = withTextCache(pipeline, cache)
    const tokens = tokenizeBatch(["a red fox", "blurry"], model.config)
    const first = await cached.encodeText(tokens, 2)
    const second = await cached.encodeText(tokens, 2)
    expect(calls()).toBe(1)
    expect(sameBits(second, await base.encodeText(tokens, 2))).toBe(true)
    expect(sameBits(first, second)).toBe(true)
  })

  it("evicts the least recently used entry to stay within its budget", async () => {
    const { pipeline, calls } = counting(makeSessionPipeline(sessions, model.config.tokenCount))
    const entryBytes = model.config.textDim * 4
    const cache = makeTextCache(entryBytes * 2)
    const cached = withTextCache(pipeline, cache)
    const [a, b, c] = ["one", "two", "three"].map((prompt) => tokenizeBatch([prompt], model.config))
    await cached.encodeText(a, 1)
    await cached.encodeText(b, 1)
    await cached.encodeText(a, 1) // a is now the most recent
    await cached.encodeText(c, 1) // evicts b
    expect(cache.heldBytes).toBeLessThanOrEqual(cache.capacityBytes)
    expect(calls()).toBe(3)
    await cached.encodeText(a, 1)
    expect(calls()).toBe(3)
    await cached.encodeText(b, 1)
    expect(calls()).toBe(4)
  })
})

describe("the ONNX worker's kv_cache pool", () => {
  const kvCacheBytes = 4096
  const imageOf = async (worker: ReturnType<typeof makeOnnxWorker>) => {
    const reply = await Effect.runPromise(worker.execute({ batchId: 1, requests: [imageRequest({ negativePrompt: "dark", guidanceScale: 3 })] }))
    if (reply._tag !== "Output") throw new Error("the output rank answers Output")
    return (reply.output as { readonly image: ReadonlyArray<ImageItem> }).image[0].rgb
  }

  it("counts in used bytes, is freed by sleep, must be named by a wake, and changes no image", async () => {
    const worker = makeOnnxWorker({ rank: 0, worldSize: 1, outputRank: 0, modelDir: root.dir, adapterDir: root.dir, providers: ["cpu"], kvCacheBytes })
    const loaded = await Effect.runPromise(worker.load())
    const weightsBytes = loaded.bytes - kvCacheBytes
    expect(worker.truth().usedBytes).toBe(weightsBytes + kvCacheBytes)
    const before = await imageOf(worker)
    expect(await imageOf(worker)).toBe(before)
    const slept = await Effect.runPromise(worker.sleep(1))
    expect(slept.freedBytes).toBe(weightsBytes + kvCacheBytes)
    const incomplete = await Effect.runPromiseExit(worker.wakeUp(["weights"]))
    expect(Exit.isFailure(incomplete) && incomplete.cause.reasons[0]?._tag === "Fail" ? incomplete.cause.reasons[0].error : undefined)
      .toMatchObject({ _tag: "IncompleteWake", missingTags: ["kv_cache"] })
    expect(worker.truth().asleep).toBe(true)
    const woke = await Effect.runPromise(worker.wakeUp(["weights", "kv_cache"]))
    expect(woke).toEqual({ tags: ["weights", "kv_cache"], restoredBytes: weightsBytes + kvCacheBytes })
    expect(await imageOf(worker)).toBe(before)
    await Effect.runPromise(worker.shutdown())
  })

  it("oomOnWake answers OutOfMemory, marks the rank unhealthy and leaves it asleep", async () => {
    const worker = makeOnnxWorker({ rank: 0, worldSize: 1, outputRank: 0, modelDir: root.dir, adapterDir: root.dir, providers: ["cpu"] })
    await Effect.runPromise(worker.load())
    await Effect.runPromise(worker.sleep(2))
    const exit = await Effect.runPromiseExit(worker.wakeUpOutOfMemory())
    expect(Exit.isFailure(exit) && exit.cause.reasons[0]?._tag === "Fail" ? exit.cause.reasons[0].error._tag : undefined).toBe("OutOfMemory")
    expect(worker.truth()).toMatchObject({ asleep: true, sleepLevel: 2 })
    expect(Exit.isFailure(await Effect.runPromiseExit(worker.checkHealth()))).toBe(true)
    await Effect.runPromise(worker.wakeUp(["weights"]))
    expect(Exit.isSuccess(await Effect.runPromiseExit(worker.checkHealth()))).toBe(true)
    await Effect.runPromise(worker.shutdown())
  })
})

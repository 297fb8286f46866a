/**
 * Goal: the ONNX worker keeps the Worker contract on a real model: load reads files and reports
 * the weights' bytes and provider; execute answers images on the output rank and Ack elsewhere,
 * the same seed giving the same bytes; adapters change the output and removing one restores the
 * base output bit for bit; invalid adapters are LoraInvalid; sleep at either level and a wake
 * give bit-identical outputs; a wake must name the weights; failures are typed.
 * Method: a small model and adapters saved into a temporary directory, one worker per test.
 */
import { cp, mkdir, symlink } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Batch, BatchRequest } from "../../../core/worker.ts"
import type { ImageItem } from "../../../backends/onnx/batch-plan.ts"
import { writeLora } from "../../../backends/onnx/lora-file.ts"
import { createLora } from "../../../backends/onnx/lora.ts"
import { saveModel } from "../../../backends/onnx/model.ts"
import { makeOnnxWorker, type OnnxWorker, type OnnxWorkerOptions } from "../../../backends/onnx/worker.ts"
import { imageRequest, makeTempDir, smallModel } from "./fixtures.ts"

let root: Awaited<ReturnType<typeof makeTempDir>>
let modelDir: string
let adapterDir: string
let weightsBytes: number
beforeAll(async () => {
  root = await makeTempDir("worker")
  modelDir = join(root.dir, "model")
  adapterDir = join(root.dir, "adapters")
  const manifest = await saveModel(modelDir, smallModel)
  weightsBytes = manifest.weightsBytes
  await mkdir(adapterDir)
  await writeLora(join(adapterDir, "style.rwlora"), createLora({ seed: 1, rank: 2, targets: manifest.loraTargets, scale: 1 }))
  await writeLora(join(adapterDir, "stranger.rwlora"), createLora({ seed: 1, rank: 2, targets: [{ name: "unet.mid.weight", rows: 4, columns: 4 }], scale: 1 }))
  await writeLora(join(adapterDir, "misshapen.rwlora"), createLora({ seed: 1, rank: 2, targets: manifest.loraTargets.map((t) => ({ ...t, rows: t.rows * 2 })), scale: 1 }))
  await writeLora(join(root.dir, "outside.rwlora"), createLora({ seed: 1, rank: 2, targets: manifest.loraTargets, scale: 1 }))
  await symlink(join(root.dir, "outside.rwlora"), join(adapterDir, "link-out.rwlora"))
})
afterAll(async () => { await root.remove() })

const run = Effect.runPromise
const makeWorker = (overrides: Partial<OnnxWorkerOptions> = {}): OnnxWorker =>
  makeOnnxWorker({ rank: 0, worldSize: 1, outputRank: 0, modelDir, adapterDir, providers: ["cuda", "cpu"], ...overrides })
const loaded = async (overrides: Partial<OnnxWorkerOptions> = {}) => {
  const worker = makeWorker(overrides)
  await run(worker.load())
  return worker
}
/** The tag and fields of a typed failure; "ok" when the effect succeeded, "defect" when it died. */
const failureOf = async (effect: Effect.Effect<unknown, { readonly _tag: string }>) => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return { _tag: "ok" }
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? reason.error : { _tag: "defect" }
}
const batchOf = (...requests: ReadonlyArray<BatchRequest>): Batch => ({ batchId: 1, requests })
const images = async (worker: OnnxWorker, ...requests: ReadonlyArray<BatchRequest>): Promise<ReadonlyArray<ImageItem>> => {
  const reply = await run(worker.execute(batchOf(...(requests.length > 0 ? requests : [imageRequest()]))))
  if (reply._tag !== "Output") throw new Error("the output rank answers Output")
  return (reply.output as { readonly image: ReadonlyArray<ImageItem> }).image
}
const styled = imageRequest({ lora: { id: 1, name: "style", scale: 1 } })

describe("load, execute and health", () => {
  it("load reports the weights' bytes; health names the provider obtained", async () => {
    const worker = makeWorker()
    expect(await run(worker.load())).toEqual({ bytes: weightsBytes })
    expect(await run(worker.load())).toEqual({ bytes: weightsBytes })
    const health = await run(worker.checkHealth())
    const provider = worker.truth().provider
    expect(health).toMatchObject({ rank: 0, asleep: false, sleepLevel: null, loras: [], usedBytes: weightsBytes })
    expect(health.device).toBe(`${provider?.provider}:0`)
    if (provider?.provider === "cpu") expect(provider.tried.map((attempt) => attempt.provider)).toEqual(["cuda"])
    await run(worker.shutdown())
  })

  it("load fails with ModelLoadError on a missing or corrupt model directory", async () => {
    expect(await failureOf(makeWorker({ modelDir: join(root.dir, "nowhere") }).load())).toMatchObject({ _tag: "ModelLoadError" })
    const corrupt = join(root.dir, "corrupt")
    await cp(modelDir, corrupt, { recursive: true })
    await cp(join(adapterDir, "style.rwlora"), join(corrupt, "decoder.onnx"))
    expect(await failureOf(makeWorker({ modelDir: corrupt }).load())).toMatchObject({ _tag: "ModelLoadError", reason: expect.stringMatching(/decoder.onnx/) })
  })

  it("the output rank answers JSON-safe images; the same seed gives the same bytes, another prompt others", async () => {
    const worker = await loaded()
    const [first] = await images(worker)
    expect(first).toMatchObject({ requestId: "r1", outputIndex: 0, width: 16, height: 16, seed: 42, adapterId: null })
    expect(JSON.parse(JSON.stringify(first))).toEqual(first)
    expect((await images(worker))[0].rgb).toBe(first.rgb)
    expect((await images(worker, imageRequest({ prompt: "a blue car" })))[0].rgb).not.toBe(first.rgb)
    expect(worker.truth().lastTimings?.stepMs).toHaveLength(3)
    await run(worker.shutdown())
  })

  it("other ranks compute the batch and answer Ack", async () => {
    const worker = await loaded({ rank: 1, worldSize: 2, outputRank: 0 })
    expect(await run(worker.execute(batchOf(imageRequest())))).toEqual({ _tag: "Ack" })
    await run(worker.shutdown())
  })

  it("execute before load is a ModelError; a batch this model cannot run is a ModelError", async () => {
    expect(await failureOf(makeWorker().execute(batchOf(imageRequest())))).toMatchObject({ _tag: "ModelError" })
    const worker = await loaded()
    expect(await failureOf(worker.execute(batchOf(imageRequest({ height: 12 }))))).toMatchObject({ _tag: "ModelError" })
    expect(await failureOf(worker.execute(batchOf(styled)))).toMatchObject({ _tag: "ModelError", reason: expect.stringMatching(/adapter 1 .* not loaded/) })
    await run(worker.shutdown())
  })

  it("a device budget below the weights makes load answer OutOfMemory and health Unhealthy", async () => {
    const worker = makeWorker({ memory: { deviceBytes: weightsBytes - 1 } })
    expect(await failureOf(worker.load())).toMatchObject({ _tag: "OutOfMemory", requestedBytes: weightsBytes })
    expect(await failureOf(worker.checkHealth())).toMatchObject({ _tag: "Unhealthy" })
  })
})

describe("LoRA adapters", () => {
  it("an adapter changes the output, and removing it restores the base output bit for bit", async () => {
    const worker = await loaded()
    const [base] = await images(worker)
    expect(await run(worker.addLora({ id: 1, name: "style" }))).toEqual({ adapterId: 1, boundLayers: 4 })
    expect(await run(worker.addLora({ id: 1, name: "style" }))).toEqual({ adapterId: 1, boundLayers: 4 })
    const [withAdapter] = await images(worker, styled)
    expect(withAdapter.rgb).not.toBe(base.rgb)
    expect(withAdapter.adapterId).toBe(1)
    const [halfScale] = await images(worker, imageRequest({ lora: { id: 1, name: "style", scale: 0.5 } }))
    expect(halfScale.rgb).not.toBe(withAdapter.rgb)
    expect((await images(worker))[0].rgb).toBe(base.rgb)
    expect(await run(worker.pinLora(1))).toEqual({ adapterId: 1, boundLayers: 4 })
    expect(worker.truth().pinned).toEqual([1])
    expect(await run(worker.listLoras())).toEqual([1])
    expect(await run(worker.removeLora(1))).toEqual({ adapterId: 1, boundLayers: 4 })
    expect(await run(worker.listLoras())).toEqual([])
    expect((await images(worker))[0].rgb).toBe(base.rgb)
    expect(await failureOf(worker.removeLora(1))).toEqual(expect.objectContaining({ _tag: "LoraNotFound", adapterId: 1 }))
    expect(await failureOf(worker.pinLora(2))).toEqual(expect.objectContaining({ _tag: "LoraNotFound", adapterId: 2 }))
    await run(worker.shutdown())
  })

  it("refuses adapters that bind no layer, have the wrong shape, or lie outside the adapter directory", async () => {
    const worker = await loaded()
    const reason = async (path: string) => failureOf(worker.addLora({ id: 7, name: "bad", path }))
    expect(await reason("stranger.rwlora")).toMatchObject({ _tag: "LoraInvalid", adapterId: 7, reason: expect.stringMatching(/binds no layer/) })
    expect(await reason("misshapen.rwlora")).toMatchObject({ _tag: "LoraInvalid", reason: expect.stringMatching(/B of .* is \d+x2, expected/) })
    expect(await reason("../outside.rwlora")).toMatchObject({ _tag: "LoraInvalid", reason: expect.stringMatching(/outside the adapter directory/) })
    expect(await reason(join(root.dir, "outside.rwlora"))).toMatchObject({ _tag: "LoraInvalid", reason: expect.stringMatching(/outside/) })
    expect(await reason("link-out.rwlora")).toMatchObject({ _tag: "LoraInvalid", reason: expect.stringMatching(/outside/) })
    expect(await run(worker.listLoras())).toEqual([])
    await run(worker.shutdown())
  })
})

describe("sleep and wake", () => {
  for (const level of [1, 2] as const) {
    it(`sleep(${level}) frees at least the weights; wake gives bit-identical outputs, base and adapted`, async () => {
      const worker = await loaded()
      await run(worker.addLora({ id: 1, name: "style" }))
      const [base] = await images(worker)
      const [adapted] = await images(worker, styled)
      const report = await run(worker.sleep(level))
      expect(report.level).toBe(level)
      expect(report.freedBytes).toBeGreaterThanOrEqual(weightsBytes)
      const truth = worker.truth()
      expect(truth).toMatchObject({ asleep: true, sleepLevel: level, usedBytes: 0, hostWeightsBytes: level === 1 ? weightsBytes : 0 })
      expect(truth.lastSleep?.rssBeforeBytes).toBeGreaterThan(0)
      expect(truth.lastSleep?.rssAfterBytes).toBeGreaterThan(0)
      expect(await failureOf(worker.execute(batchOf(imageRequest())))).toMatchObject({ _tag: "WorkerAsleep", level })
      expect(await failureOf(worker.sleep(1))).toMatchObject({ _tag: "AlreadyAsleep", level })
      expect(await failureOf(worker.wakeUp(["kv_cache"]))).toMatchObject({ _tag: "IncompleteWake", missingTags: ["weights"] })
      expect(await run(worker.wakeUp(["weights", "kv_cache"]))).toEqual({ tags: ["weights"], restoredBytes: weightsBytes })
      expect((await images(worker))[0].rgb).toBe(base.rgb)
      expect((await images(worker, styled))[0].rgb).toBe(adapted.rgb)
      expect(await failureOf(worker.wakeUp(["weights"]))).toMatchObject({ _tag: "NotAsleep" })
      await run(worker.shutdown())
    })
  }

  it("a level-2 wake refuses model files that changed during the sleep; the rank is unhealthy until a wake succeeds", async () => {
    const dir = join(root.dir, "changing")
    await saveModel(dir, smallModel)
    const worker = await loaded({ modelDir: dir })
    await run(worker.sleep(2))
    await saveModel(dir, { ...smallModel, seed: smallModel.seed + 1 })
    expect(await failureOf(worker.wakeUp(["weights"]))).toMatchObject({ _tag: "defect" })
    expect(worker.truth().asleep).toBe(true)
    expect(await failureOf(worker.checkHealth())).toMatchObject({ _tag: "Unhealthy", reason: expect.stringMatching(/changed while the rank slept/) })
    await saveModel(dir, smallModel)
    expect(await run(worker.load())).toMatchObject({ bytes: weightsBytes })
    expect(await failureOf(worker.checkHealth())).toMatchObject({ _tag: "Unhealthy" })
    await run(worker.wakeUp(["weights"]))
    expect(await run(worker.checkHealth())).toMatchObject({ asleep: false })
    await run(worker.shutdown())
  })
})

describe("shutdown", () => {
  it("releases everything, is idempotent, and later calls are refused", async () => {
    const worker = await loaded()
    await run(worker.shutdown())
    await run(worker.shutdown())
    expect(worker.truth()).toMatchObject({ shutDown: true, usedBytes: 0, hostWeightsBytes: 0 })
    expect(await failureOf(worker.execute(batchOf(imageRequest())))).toMatchObject({ _tag: "ModelError" })
    expect(await failureOf(worker.checkHealth())).toMatchObject({ _tag: "Unhealthy" })
  })
})

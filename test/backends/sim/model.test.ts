/**
 * Goal: the simulated worker keeps the Worker contract: memory never overflows the device, sleep
 * frees exactly the sleeping pools, a wake with incomplete tags changes nothing, a second wake is
 * a typed no-op, LoRA sets follow the calls, a model without LoRA answers LoraUnsupported on
 * every LoRA method while `execute` still works, and an OOM shows in health.
 * Method: fast-check model-based testing. Random operation sequences run against the worker and
 * against a tiny reference model side by side; after every step the answer's tag and value and
 * the worker's ground truth must match the reference. Virtual time comes from TestClock.
 */
import { fc, test } from "@fast-check/vitest"
import { Effect, Fiber, Result } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import type { BatchRequest, MemoryTag, SleepLevel } from "../../../core/worker.ts"
import { makeSimulatedWorker, type SimulatedWorker } from "../../../backends/sim/model.ts"

/** Runs one worker call to its end on virtual time and returns its outcome as data. */
const runOp = <A, E>(op: Effect.Effect<A, E>): Promise<Result.Result<A, E>> =>
  Effect.runPromise(Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(Effect.result(op))
    yield* TestClock.adjust("1 hour")
    return yield* Fiber.join(fiber)
  }).pipe(Effect.provide(TestClock.layer())))

const tagOf = (result: Result.Result<unknown, unknown>): string =>
  Result.isSuccess(result) ? "Ok" : (result.failure as { readonly _tag: string })._tag

interface ModelConfig {
  readonly deviceBytes: number
  readonly weightsBytes: number
  readonly kvCacheBytes: number
  readonly loraBytes: number
  readonly lora: boolean
}
const invalidAdapterId = 5

/** The reference: what a rank should hold, in the fewest words. */
class Reference {
  loaded = false
  sleepLevel: SleepLevel | null = null
  loras = new Set<number>()
  pinned = new Set<number>()
  unhealthy = false
  constructor(readonly config: ModelConfig) {}
  get pools() { return this.config.weightsBytes + this.config.kvCacheBytes }
  get used() { return (this.loaded && this.sleepLevel === null ? this.pools : 0) + this.loras.size * this.config.loraBytes }
  fits(bytes: number) { return bytes <= this.config.deviceBytes - this.used }
  /** Health follows the last answer: OOM makes the rank unhealthy, any success heals it. */
  settle(tag: string) {
    if (tag === "Ok") this.unhealthy = false
    if (tag === "OutOfMemory") this.unhealthy = true
  }
}

interface Real { readonly worker: SimulatedWorker }
type SimCommand = fc.AsyncCommand<Reference, Real>

/** Runs the call and checks its tag against the reference's prediction. */
const step = async <A, E>(expectedTag: string, op: Effect.Effect<A, E>) => {
  const result = await runOp(op)
  expect(tagOf(result)).toBe(expectedTag)
  return result
}

const compareTruth = (model: Reference, real: Real) => {
  const truth = real.worker.truth()
  expect(truth.usedBytes).toBeLessThanOrEqual(model.config.deviceBytes)
  expect(truth).toMatchObject({
    loaded: model.loaded,
    sleepLevel: model.sleepLevel,
    asleep: model.sleepLevel !== null,
    loras: [...model.loras].sort((a, b) => a - b),
    pinned: [...model.pinned].sort((a, b) => a - b),
    usedBytes: model.used
  })
}

class Load implements SimCommand {
  check() { return true }
  async run(model: Reference, real: Real) {
    const expected = model.loaded ? "Ok" : model.fits(model.pools) ? "Ok" : "OutOfMemory"
    const result = await step(expected, real.worker.load())
    if (Result.isSuccess(result)) expect(result.success.bytes).toBe(model.pools)
    if (expected === "Ok") model.loaded = true
    model.settle(expected)
    compareTruth(model, real)
  }
  toString() { return "load" }
}

class Sleep implements SimCommand {
  constructor(readonly level: SleepLevel) {}
  check() { return true }
  async run(model: Reference, real: Real) {
    const expected = !model.loaded ? "ModelError" : model.sleepLevel !== null ? "AlreadyAsleep" : "Ok"
    const result = await step(expected, real.worker.sleep(this.level))
    if (Result.isSuccess(result)) expect(result.success).toEqual({ level: this.level, freedBytes: model.pools })
    if (expected === "Ok") model.sleepLevel = this.level
    model.settle(expected)
    compareTruth(model, real)
  }
  toString() { return `sleep(${this.level})` }
}

class WakeUp implements SimCommand {
  constructor(readonly tags: ReadonlyArray<MemoryTag>) {}
  check() { return true }
  async run(model: Reference, real: Real) {
    const sleeping: Array<MemoryTag> = model.config.kvCacheBytes > 0 ? ["weights", "kv_cache"] : ["weights"]
    const missing = sleeping.filter((tag) => !this.tags.includes(tag))
    const expected = model.sleepLevel === null ? "NotAsleep"
      : missing.length > 0 ? "IncompleteWake"
      : model.fits(model.pools) ? "Ok" : "OutOfMemory"
    const result = await step(expected, real.worker.wakeUp(this.tags))
    if (Result.isSuccess(result)) expect(result.success.restoredBytes).toBe(model.pools)
    if (expected === "IncompleteWake") expect(result).toMatchObject({ failure: { missingTags: missing } })
    if (expected === "Ok") model.sleepLevel = null
    model.settle(expected)
    compareTruth(model, real)
  }
  toString() { return `wakeUp([${this.tags.join(",")}])` }
}

class AddLora implements SimCommand {
  constructor(readonly adapterId: number, readonly name: string) {}
  check() { return true }
  async run(model: Reference, real: Real) {
    const invalid = this.name === "" || this.adapterId === invalidAdapterId || !model.fits(model.config.loraBytes)
    const expected = !model.config.lora ? "LoraUnsupported"
      : model.loras.has(this.adapterId) ? "Ok"
      : invalid ? "LoraInvalid" : "Ok"
    const result = await step(expected, real.worker.addLora({ id: this.adapterId, name: this.name }))
    if (Result.isSuccess(result)) expect(result.success.boundLayers).toBeGreaterThan(0)
    if (expected === "Ok") model.loras.add(this.adapterId)
    model.settle(expected)
    compareTruth(model, real)
  }
  toString() { return `addLora(${this.adapterId}, "${this.name}")` }
}

class RemoveOrPinLora implements SimCommand {
  constructor(readonly method: "removeLora" | "pinLora", readonly adapterId: number) {}
  check() { return true }
  async run(model: Reference, real: Real) {
    const expected = !model.config.lora ? "LoraUnsupported" : model.loras.has(this.adapterId) ? "Ok" : "LoraNotFound"
    const op = this.method === "removeLora" ? real.worker.removeLora(this.adapterId) : real.worker.pinLora(this.adapterId)
    await step(expected, op)
    if (expected === "Ok" && this.method === "removeLora") {
      model.loras.delete(this.adapterId)
      model.pinned.delete(this.adapterId)
    }
    if (expected === "Ok" && this.method === "pinLora") model.pinned.add(this.adapterId)
    model.settle(expected)
    compareTruth(model, real)
  }
  toString() { return `${this.method}(${this.adapterId})` }
}

class ListLoras implements SimCommand {
  check() { return true }
  async run(model: Reference, real: Real) {
    const expected = model.config.lora ? "Ok" : "LoraUnsupported"
    const result = await step(expected, real.worker.listLoras())
    if (Result.isSuccess(result)) expect(result.success).toEqual([...model.loras].sort((a, b) => a - b))
    model.settle(expected)
  }
  toString() { return "listLoras" }
}

class Execute implements SimCommand {
  constructor(readonly side: number, readonly outputs: number, readonly adapterId: number | null) {}
  check() { return true }
  async run(model: Reference, real: Real) {
    const activation = this.side * this.side * this.outputs
    const expected = !model.loaded ? "ModelError"
      : model.sleepLevel !== null ? "WorkerAsleep"
      : this.adapterId !== null && !model.loras.has(this.adapterId) ? "ModelError"
      : model.fits(activation) ? "Ok" : "OutOfMemory"
    const request = makeRequest({ height: this.side, width: this.side, outputsPerPrompt: this.outputs, adapterId: this.adapterId })
    const result = await step(expected, real.worker.execute({ batchId: 1, requests: [request] }))
    if (Result.isSuccess(result)) {
      expect(result.success).toMatchObject({ _tag: "Output", output: { image: { length: this.outputs } } })
    }
    model.settle(expected)
    compareTruth(model, real)
  }
  toString() { return `execute(${this.side}x${this.side}, k=${this.outputs}, adapter=${this.adapterId})` }
}

class CheckHealth implements SimCommand {
  check() { return true }
  async run(model: Reference, real: Real) {
    const result = await step(model.unhealthy ? "Unhealthy" : "Ok", real.worker.checkHealth())
    if (Result.isSuccess(result)) expect(result.success.usedBytes).toBe(model.used)
  }
  toString() { return "checkHealth" }
}

const makeRequest = (options: {
  readonly height?: number; readonly width?: number; readonly outputsPerPrompt?: number
  readonly adapterId?: number | null; readonly seed?: number; readonly prompt?: string
}): BatchRequest => ({
  requestId: "request-1",
  prompt: options.prompt ?? "a lighthouse at dusk",
  height: options.height ?? 8,
  width: options.width ?? 8,
  frames: 1,
  fps: 0,
  steps: 4,
  guidanceScale: 1,
  seed: options.seed ?? 7,
  outputsPerPrompt: options.outputsPerPrompt ?? 1,
  outputType: "image",
  lora: options.adapterId == null ? undefined : { id: options.adapterId, name: `adapter-${options.adapterId}`, scale: 1 }
})

const configArbitrary = fc.record({
  deviceBytes: fc.integer({ min: 200, max: 1500 }),
  weightsBytes: fc.integer({ min: 50, max: 700 }),
  kvCacheBytes: fc.constantFrom(0, 150),
  loraBytes: fc.integer({ min: 1, max: 200 }),
  lora: fc.boolean()
})
const adapterId = fc.integer({ min: 1, max: 6 })
const commandArbitraries = [
  fc.constant(new Load()),
  fc.constantFrom<SleepLevel>(1, 2).map((level) => new Sleep(level)),
  fc.subarray<MemoryTag>(["weights", "kv_cache"]).map((tags) => new WakeUp(tags)),
  fc.tuple(adapterId, fc.constantFrom("style", "")).map(([id, name]) => new AddLora(id, name)),
  fc.tuple(fc.constantFrom("removeLora" as const, "pinLora" as const), adapterId).map(([method, id]) => new RemoveOrPinLora(method, id)),
  fc.constant(new ListLoras()),
  fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 2 }), fc.option(adapterId, { nil: null }))
    .map(([side, outputs, id]) => new Execute(side, outputs, id)),
  fc.constant(new CheckHealth())
]

const makeWorker = (config: ModelConfig) =>
  makeSimulatedWorker({
    ...config, rank: 0, worldSize: 1, outputRank: 0, invalidAdapterIds: [invalidAdapterId],
    activationBytesPerPixel: 1, stepMs: 1
  })

describe("simulated worker", () => {
  test.prop([configArbitrary, fc.commands(commandArbitraries, { maxCommands: 40 })])(
    "every answer and the ground truth match the reference model, and memory never exceeds the device",
    async (config, commands) => {
      await fc.asyncModelRun(() => ({ model: new Reference(config), real: { worker: makeWorker(config) } }), commands)
    })

  test.prop([fc.boolean(), fc.constantFrom<SleepLevel>(1, 2)])(
    "sleep frees exactly the weights and kv cache, and a wake restores the same bytes",
    async (withKvCache, level) => {
      const worker = makeWorker({ deviceBytes: 1000, weightsBytes: 300, kvCacheBytes: withKvCache ? 100 : 0, loraBytes: 10, lora: true })
      await runOp(worker.load())
      const before = worker.truth().usedBytes
      const slept = await runOp(worker.sleep(level))
      expect(slept).toEqual(Result.succeed({ level, freedBytes: withKvCache ? 400 : 300 }))
      expect(worker.truth().usedBytes).toBe(before - (withKvCache ? 400 : 300))
      const woken = await runOp(worker.wakeUp(["weights", "kv_cache"]))
      expect(Result.getOrThrow(woken).restoredBytes).toBe(withKvCache ? 400 : 300)
      expect(worker.truth().usedBytes).toBe(before)
      expect(tagOf(await runOp(worker.wakeUp(["weights", "kv_cache"])))).toBe("NotAsleep")
    })

  test.prop([fc.constantFrom<SleepLevel>(1, 2)])("a wake whose tags miss the kv cache changes nothing", async (level) => {
    const worker = makeWorker({ deviceBytes: 1000, weightsBytes: 300, kvCacheBytes: 100, loraBytes: 10, lora: true })
    await runOp(worker.load())
    await runOp(worker.sleep(level))
    const before = worker.truth()
    const woken = await runOp(worker.wakeUp(["weights"]))
    expect(woken).toMatchObject({ failure: { _tag: "IncompleteWake", missingTags: ["kv_cache"] } })
    expect(worker.truth()).toEqual(before)
  })

  test.prop([adapterId])("without a LoRA manager every LoRA method answers LoraUnsupported and execute still works", async (id) => {
    const worker = makeWorker({ deviceBytes: 1000, weightsBytes: 300, kvCacheBytes: 0, loraBytes: 10, lora: false })
    await runOp(worker.load())
    const answers = [
      await runOp(worker.addLora({ id, name: "style" })),
      await runOp(worker.removeLora(id)),
      await runOp(worker.pinLora(id)),
      await runOp(worker.listLoras())
    ]
    expect(answers.map(tagOf)).toEqual(["LoraUnsupported", "LoraUnsupported", "LoraUnsupported", "LoraUnsupported"])
    expect(answers.map((answer) => (answer as { failure: { method: string } }).failure.method))
      .toEqual(["addLora", "removeLora", "pinLora", "listLoras"])
    expect(tagOf(await runOp(worker.execute({ batchId: 1, requests: [makeRequest({})] })))).toBe("Ok")
  })

  test("an OOM shows in health until the next successful call", async () => {
    const worker = makeWorker({ deviceBytes: 1000, weightsBytes: 300, kvCacheBytes: 0, loraBytes: 10, lora: true })
    await runOp(worker.load())
    const huge = makeRequest({ height: 100, width: 100 })
    expect(tagOf(await runOp(worker.execute({ batchId: 1, requests: [huge] })))).toBe("OutOfMemory")
    expect(tagOf(await runOp(worker.checkHealth()))).toBe("Unhealthy")
    expect(tagOf(await runOp(worker.listLoras()))).toBe("Ok")
    expect(tagOf(await runOp(worker.checkHealth()))).toBe("Ok")
  })

  test("a request whose adapter is missing on this rank fails naming the adapter and the rank", async () => {
    const worker = makeSimulatedWorker({ rank: 2, worldSize: 4, outputRank: 0 })
    await runOp(worker.load())
    const result = await runOp(worker.execute({ batchId: 1, requests: [makeRequest({ adapterId: 3 })] }))
    expect(result).toMatchObject({ failure: { _tag: "ModelError" } })
    const reason = (result as { failure: { reason: string } }).failure.reason
    expect(reason).toContain("adapter 3")
    expect(reason).toContain("rank 2")
  })

  test.prop([fc.integer({ min: 1, max: 4 })])("only the output rank answers the output; every other rank answers Ack", async (worldSize) => {
    for (let rank = 0; rank < worldSize; rank++) {
      const worker = makeSimulatedWorker({ rank, worldSize, outputRank: worldSize - 1 })
      await runOp(worker.load())
      const result = Result.getOrThrow(await runOp(worker.execute({ batchId: 1, requests: [makeRequest({})] })))
      expect(result._tag).toBe(rank === worldSize - 1 ? "Output" : "Ack")
    }
  })

  test("execute takes steps x stepMs of virtual time", async () => {
    const worker = makeSimulatedWorker({ rank: 0, worldSize: 1, outputRank: 0, stepMs: 10 })
    const finished = await Effect.runPromise(Effect.gen(function* () {
      yield* worker.load()
      const fiber = yield* Effect.forkChild(worker.execute({ batchId: 1, requests: [makeRequest({})] }))
      yield* TestClock.adjust("39 millis")
      const early = fiber.pollUnsafe()
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      return early === undefined
    }).pipe(Effect.provide(TestClock.layer())))
    expect(finished).toBe(true)
  })
})

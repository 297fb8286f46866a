/**
 * Goal: the `onnx` worker kind as a rank process hosts it: its start configuration is checked
 * (an `onnx` rank without `model.onnx` is refused with a reason), ranks 0 and 1 of a CFG split
 * reach each other at load and run a guided batch together (rank 0 answers the image, rank 1
 * `Ack`), a rank that refuses a guided batch makes its peer fail that batch at once rather than
 * wait out its exchange bound, the hosted state is the worker's truth, and the oomOnWake fault
 * answers OutOfMemory and changes nothing else.
 * Method: both hosted workers in this process, on the cached default model, over a real socket.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { prepareOnnxAssets, type OnnxAssets } from "../../../backends/process/onnx-assets.ts"
import { makeOnnxHostedWorker } from "../../../backends/process/onnx-worker-kind.ts"
import { decodeRankConfig, type RankConfig } from "../../../backends/process/rank-config.ts"

let assets: OnnxAssets
let folder: string
beforeAll(async () => {
  assets = await prepareOnnxAssets()
  folder = await mkdtemp(join(tmpdir(), "rankwise-onnx-kind-"))
})
afterAll(async () => { await rm(folder, { recursive: true, force: true }) })

const configOf = (rank: number, model: Partial<RankConfig["model"]> = {}): RankConfig => ({
  rank, worldSize: 2, outputRank: 0, workerKind: "onnx", faults: [],
  model: {
    onnx: { ...assets, providers: ["cpu"], cfg: { socketPath: join(folder, "cfg.sock"), exchangeTimeoutMs: 2_000, connectTimeoutMs: 2_000 } },
    ...model
  }
})

describe("decodeRankConfig for onnx ranks", () => {
  it("accepts an onnx rank with its model and refuses one without", () => {
    expect(Result.isSuccess(decodeRankConfig(configOf(0)))).toBe(true)
    const refused = decodeRankConfig({ ...configOf(0), model: {} })
    expect(Result.isFailure(refused) && refused.failure).toMatch(/worker kind 'onnx' needs model.onnx/)
  })
})

describe("the hosted onnx worker", () => {
  it("splits a guided batch between ranks 0 and 1, reports its truth, and answers oomOnWake without changing state", async () => {
    const [rank0, rank1] = [makeOnnxHostedWorker(configOf(0, { kvCacheBytes: 1024 })), makeOnnxHostedWorker(configOf(1, { kvCacheBytes: 1024 }))]
    try {
      await Promise.all([Effect.runPromise(rank0.worker.load()), Effect.runPromise(rank1.worker.load())])
      const batch = {
        batchId: 1,
        requests: [{
          requestId: "r", prompt: "a fox", negativePrompt: "dark", guidanceScale: 3, height: 16, width: 16, frames: 1, fps: 0,
          steps: 4, seed: 2, outputsPerPrompt: 1, outputType: "image" as const
        }]
      }
      const [reply0, reply1] = await Promise.all([Effect.runPromise(rank0.worker.execute(batch)), Effect.runPromise(rank1.worker.execute(batch))])
      expect(reply0._tag).toBe("Output")
      expect(reply1).toEqual({ _tag: "Ack" })
      // Rank 1 asleep refuses batch 2; rank 0 learns it from rank 1, not from its 2 s bound.
      await Effect.runPromise(rank1.worker.sleep(1))
      const started = performance.now()
      const [refused0, refused1] = await Promise.all([
        Effect.runPromiseExit(rank0.worker.execute({ ...batch, batchId: 2 })),
        Effect.runPromiseExit(rank1.worker.execute({ ...batch, batchId: 2 }))
      ])
      expect(performance.now() - started).toBeLessThan(1_000)
      expect(Exit.isFailure(refused1) && refused1.cause.reasons[0]?._tag === "Fail" ? refused1.cause.reasons[0].error._tag : undefined).toBe("WorkerAsleep")
      expect(Exit.isFailure(refused0) && refused0.cause.reasons[0]?._tag === "Fail" ? refused0.cause.reasons[0].error : undefined)
        .toMatchObject({ _tag: "ModelError", reason: "CFG exchange with rank 1 failed: the peer gave up on this batch (batch 2, step 0)" })
      await Effect.runPromise(rank1.worker.wakeUp(["weights", "kv_cache"]))
      const state = rank0.state()
      expect(state).toMatchObject({ loaded: true, asleep: false, sleepLevel: null, loras: [] })
      expect(state.usedBytes).toBeGreaterThan(1024)
      await Effect.runPromise(rank0.worker.sleep(1))
      const oom = await Effect.runPromiseExit(rank0.wakeUpOutOfMemory())
      expect(Exit.isFailure(oom) && oom.cause.reasons[0]?._tag === "Fail" ? oom.cause.reasons[0].error._tag : undefined).toBe("OutOfMemory")
      expect(rank0.state()).toMatchObject({ asleep: true, sleepLevel: 1, usedBytes: 0 })
    } finally {
      await Effect.runPromise(rank0.worker.shutdown())
      await Effect.runPromise(rank1.worker.shutdown())
    }
  })
})

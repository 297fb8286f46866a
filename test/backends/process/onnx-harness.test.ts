/**
 * Goal: the ONNX worker in rank processes keeps its promises through the engine. Two ranks that
 * split guidance (rank 0 conditional, rank 1 unconditional, exchanging over their own socket)
 * give the single-rank image; an adapter changes the image and removing it restores it bit for
 * bit; sleep and wake at either level give bit-identical images; a peer that dies or stalls in
 * the exchange fails the request with a typed error that names it, within a bound, never a
 * hang; and no rank process is left behind.
 * Method: `onnx` clusters on the cached default model (64x64 images, few steps), with the
 * cached `adapter-<id>` files; SIGKILL and SIGSTOP are real signals during a long request
 * (512x512, 1000 steps: seconds of work, so the signal lands mid-generation).
 */
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ImageItem } from "../../../backends/onnx/batch-plan.ts"
import { itemRgb } from "../../../backends/onnx/batch-plan.ts"
import { type OnnxClusterHarness, type OnnxHarnessConfig, startOnnxHarness } from "../../../backends/process/onnx-harness.ts"
import type { HarnessOptions } from "../../../backends/harness.ts"
import type { CollectiveRpcError } from "../../../core/control.ts"
import { waitUntilGone } from "./pids.ts"

const goneBoundMs = 3_000

/** Starts an onnx cluster; `release` disposes it and answers the pids still running (none, we expect). */
const startCluster = async (options: Partial<HarnessOptions> & { readonly ranks: number }, config: OnnxHarnessConfig = {}) => {
  const harness = await startOnnxHarness({ seed: 1, ...options }, { providers: ["cpu"], ...config })
  const release = async () => {
    await harness.dispose()
    return waitUntilGone(harness.cluster.pids, goneBoundMs)
  }
  return { harness, release }
}

const valueOf = async <A, E>(harness: OnnxClusterHarness, effect: Effect.Effect<A, E>, budgetMs = 20_000): Promise<A> => {
  const result = await harness.run(effect, budgetMs)
  if (result._tag !== "Done") throw new Error(`no answer within ${budgetMs} ms`)
  if (Exit.isFailure(result.exit)) throw new Error(`expected a success, got ${String(result.exit.cause)}`)
  return result.exit.value
}

const failureOf = async <A, E>(harness: OnnxClusterHarness, effect: Effect.Effect<A, E>, budgetMs = 20_000): Promise<E> => {
  const result = await harness.run(effect, budgetMs)
  if (result._tag !== "Done") throw new Error(`no answer within ${budgetMs} ms`)
  const reason = Exit.isFailure(result.exit) ? result.exit.cause.reasons.find((inner) => inner._tag === "Fail") : undefined
  if (reason?._tag !== "Fail") throw new Error(`expected a typed failure, got ${Exit.isSuccess(result.exit) ? "a success" : String(result.exit.cause)}`)
  return reason.error
}

let requests = 0
const guided = (overrides: Record<string, unknown> = {}) => ({
  requestId: `request-${++requests}`, prompt: "a lighthouse at dusk", negativePrompt: "blurry", guidanceScale: 4,
  height: 64, width: 64, steps: 8, seed: 21, ...overrides
})

const imageOf = async (harness: OnnxClusterHarness, request: Record<string, unknown>): Promise<ImageItem> => {
  const output = await valueOf(harness, harness.engine.submit(request))
  return output.output.payload[0].items[0] as ImageItem
}

const maxPixelDifference = (a: Uint8Array, b: Uint8Array) => {
  expect(a.length).toBe(b.length)
  return a.reduce((worst, value, index) => Math.max(worst, Math.abs(value - b[index])), 0)
}

describe("onnx rank processes through the engine", () => {
  let single: Awaited<ReturnType<typeof startCluster>>
  let split: Awaited<ReturnType<typeof startCluster>>
  beforeAll(async () => {
    ;[single, split] = await Promise.all([startCluster({ ranks: 1 }), startCluster({ ranks: 2 })])
  })
  afterAll(async () => {
    expect(await single.release()).toEqual([])
    expect(await split.release()).toEqual([])
  })

  it("splits a guided request across two ranks and gives the single-rank image", async () => {
    const alone = await imageOf(single.harness, guided())
    const shared = await imageOf(split.harness, guided())
    expect(shared.timings?.exchangeMs).toHaveLength(8)
    expect(alone.timings?.exchangeMs).toBeUndefined()
    expect(maxPixelDifference(itemRgb(shared), itemRgb(alone))).toBeLessThanOrEqual(1)
    expect(shared.provider?.provider).toBe("cpu")
  })

  it("changes the image with an adapter and restores it bit for bit when the adapter is removed", async () => {
    const { harness } = split
    const base = await imageOf(harness, guided())
    await valueOf(harness, harness.engine.addLora({ id: 3, name: "adapter-3" }))
    const adapted = await imageOf(harness, guided({ lora: { id: 3, name: "adapter-3", scale: 1 } }))
    expect(adapted.adapterId).toBe(3)
    expect(adapted.rgb).not.toBe(base.rgb)
    await valueOf(harness, harness.engine.removeLora(3))
    expect((await imageOf(harness, guided())).rgb).toBe(base.rgb)
  })

  it("gives bit-identical images after sleep and wake, at level 1 and at level 2", async () => {
    const { harness } = split
    const base = await imageOf(harness, guided())
    for (const level of [1, 2] as const) {
      await valueOf(harness, harness.engine.sleep(level))
      expect(await valueOf(harness, harness.engine.state)).toBe("asleep")
      await valueOf(harness, harness.engine.wakeUp(["weights"]))
      expect((await imageOf(harness, guided())).rgb).toBe(base.rgb)
    }
  })
})

/** Seconds of work on each rank, so a signal sent a moment after submitting lands mid-generation. */
const longRequest = () => guided({ height: 512, width: 512, steps: 1_000 })
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("a peer that fails inside the CFG exchange", () => {
  it("SIGKILL of rank 1 mid-generation fails the request with a typed error naming rank 1", async () => {
    const { harness, release } = await startCluster({ ranks: 2 })
    try {
      const handle = await valueOf(harness, harness.engine.enqueue(longRequest()))
      await delay(400)
      const killedAt = performance.now()
      await valueOf(harness, harness.faults.kill(1))
      const error = await failureOf(harness, handle.result) as { readonly _tag: string; readonly message: string }
      expect(performance.now() - killedAt).toBeLessThan(3_000)
      expect(["CollectiveRpcError", "ExecutorDead"]).toContain(error._tag)
      expect(error._tag === "CollectiveRpcError" ? (error as unknown as CollectiveRpcError).failedRanks : (error as unknown as { deadRanks: ReadonlyArray<number> }).deadRanks).toContain(1)
      expect(error.message).toMatch(/rank 1/)
    } finally {
      expect(await release()).toEqual([])
    }
  })

  it("SIGSTOP of rank 1 fails the request by its deadline: rank 0's exchange times out naming rank 1, rank 1 times out", async () => {
    const executeTimeoutMs = 2_000
    const exchangeTimeoutMs = 600
    const { harness, release } = await startCluster({ ranks: 2, engine: { executeTimeoutMs } }, { exchangeTimeoutMs })
    try {
      const submittedAt = performance.now()
      const handle = await valueOf(harness, harness.engine.enqueue(longRequest()))
      await delay(300)
      await valueOf(harness, harness.faults.stop(1))
      const error = await failureOf(harness, handle.result) as unknown as CollectiveRpcError
      expect(performance.now() - submittedAt).toBeLessThan(executeTimeoutMs + 1_500)
      expect(error._tag).toBe("CollectiveRpcError")
      const [rank0, rank1] = error.result.outcomes
      expect(rank0).toMatchObject({ _tag: "Failed", error: { _tag: "ModelError" } })
      expect((rank0 as { readonly error: { readonly reason: string } }).error.reason).toMatch(new RegExp(`^CFG exchange with rank 1 timed out after ${exchangeTimeoutMs} ms`))
      expect(rank1._tag).toBe("TimedOut")
    } finally {
      expect(await release()).toEqual([])
    }
  })
})

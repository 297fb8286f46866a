/**
 * Goal: two ranks that split guidance (one branch each, exchanging every step) produce the image
 * a single rank produces, both ranks hold the same latents, and a failing exchange fails the run
 * with an error that names the peer rank.
 * Method: the small model on ONNX Runtime's CPU provider; two "ranks" in this process, each with
 * its own sessions, joined by an in-memory exchange.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CfgExchangeFailed, type CfgExchange, runSamplingCfgParallel, type StepKey } from "../../../backends/onnx/cfg-parallel.ts"
import { buildModel } from "../../../backends/onnx/model.ts"
import { runSampling, type SamplingJob } from "../../../backends/onnx/sampler.ts"
import { makeSessionPipeline, type ModelSessions, openSessions, releaseSessions } from "../../../backends/onnx/sessions.ts"
import { relativeError, sameBits, smallModel } from "./fixtures.ts"

const model = buildModel(smallModel)
let sessions: ReadonlyArray<ModelSessions> = []
beforeAll(async () => {
  sessions = await Promise.all([0, 1, 2].map(() => Effect.runPromise(openSessions(model.graphs, ["cpu"]))))
})
afterAll(async () => {
  for (const opened of sessions) await Effect.runPromise(releaseSessions(opened))
})
const pipelineOf = (index: number) => makeSessionPipeline(sessions[index], model.config.tokenCount)

const guidedJob: SamplingJob = {
  items: [
    { prompt: "a lighthouse at dusk", negativePrompt: "blurry", seed: 5, outputIndex: 0 },
    { prompt: "a red fox", negativePrompt: "dark", seed: 9, outputIndex: 0 }
  ],
  height: 16,
  width: 16,
  steps: 6,
  guidanceScale: 4
}

/** Two exchanges that meet in memory: what one side sends for a key, the other receives. */
const pairedExchanges = (): readonly [CfgExchange, CfgExchange] => {
  const keyOf = (key: StepKey) => `${key.batchId}:${key.stepIndex}`
  const boxes = [new Map<string, Float32Array>(), new Map<string, Float32Array>()]
  const waiting = [new Map<string, (values: Float32Array) => void>(), new Map<string, (values: Float32Array) => void>()]
  const side = (me: 0 | 1): CfgExchange => ({
    exchange: (key, mine) => new Promise((resolve) => {
      const other = 1 - me
      const deliver = waiting[other].get(keyOf(key))
      if (deliver) {
        waiting[other].delete(keyOf(key))
        deliver(mine)
      } else boxes[other].set(keyOf(key), mine)
      const arrived = boxes[me].get(keyOf(key))
      if (arrived) resolve(arrived)
      else waiting[me].set(keyOf(key), resolve)
    }),
    abandon: () => {}
  })
  return [side(0), side(1)]
}

describe("runSamplingCfgParallel", () => {
  it("gives the single-rank image on both ranks of the split, and identical latents", async () => {
    const single = await runSampling(pipelineOf(2), model.config, guidedJob)
    const [toRank1, toRank0] = pairedExchanges()
    const [rank0, rank1] = await Promise.all([
      runSamplingCfgParallel(pipelineOf(0), model.config, guidedJob, { branch: "cond", peerRank: 1, channel: toRank1 }, 3),
      runSamplingCfgParallel(pipelineOf(1), model.config, guidedJob, { branch: "uncond", peerRank: 0, channel: toRank0 }, 3)
    ])
    expect(sameBits(rank0.latents, rank1.latents)).toBe(true)
    expect(sameBits(rank0.images, rank1.images)).toBe(true)
    expect(relativeError(rank0.images, single.images)).toBeLessThan(1e-5)
    expect(rank0.timings.stepMs).toHaveLength(6)
    expect(rank0.timings.exchangeMs).toHaveLength(6)
  })

  it("fails with an error naming the peer rank when the exchange fails", async () => {
    const failing: CfgExchange = {
      exchange: (key) => Promise.reject(new CfgExchangeFailed({ peerRank: 1, reason: "timed out after 5 ms", key })),
      abandon: () => {}
    }
    const run = runSamplingCfgParallel(pipelineOf(0), model.config, guidedJob, { branch: "cond", peerRank: 1, channel: failing }, 8)
    await expect(run).rejects.toMatchObject({ _tag: "CfgExchangeFailed", message: "CFG exchange with rank 1 timed out after 5 ms (batch 8, step 0)" })
  })

  it("refuses a peer prediction of the wrong size", async () => {
    const short: CfgExchange = { exchange: async () => new Float32Array(3), abandon: () => {} }
    const run = runSamplingCfgParallel(pipelineOf(0), model.config, guidedJob, { branch: "cond", peerRank: 1, channel: short }, 1)
    await expect(run).rejects.toMatchObject({ _tag: "CfgExchangeFailed", peerRank: 1 })
  })
})

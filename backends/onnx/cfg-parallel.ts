/**
 * CFG-parallel sampling: two ranks split classifier-free guidance, one branch each.
 *
 * A guided step needs two noise predictions, conditional and unconditional, on the same latents.
 * Two ranks each compute one (`predictBranch`), hand it to the other through a `CfgExchange` (a
 * rank-to-rank channel, not the executor: the data plane of a step must not wait on the control
 * plane), and then both combine (`guidedNoise`) and step (`ddimStep`) with the same pure
 * functions on the same inputs. So both ranks hold bit-identical latents after every step, and
 * either can be the output rank. On the CPU provider a B-row run gives the same bits as those
 * rows of the stacked 2B-row run a single rank makes, so the split changes no output.
 *
 * Fault model: the peer may die, stall or fall behind. The exchange is bounded: it fails with
 * `CfgExchangeFailed` (its message names the peer rank) when the peer's prediction does not
 * arrive within the channel's timeout or the channel closes, and never waits longer.
 */
import { Data } from "effect"
import { assert } from "../../core/assert.ts"
import type { Pipeline } from "./pipeline.ts"
import { type Branch, guidedNoise, predictBranch, prepareSampling, type SamplingJob, type SamplingResult } from "./sampler.ts"
import { ddimStep } from "./schedule.ts"
import type { ModelConfig } from "./weights.ts"

/** Which step of which batch a prediction belongs to: both ranks must be at the same one. */
export interface StepKey {
  readonly batchId: number
  readonly stepIndex: number
}

/** The channel between the two ranks of a CFG split, as the sampler sees it. */
export interface CfgExchange {
  /**
   * Sends this rank's prediction for `key` and resolves with the peer's prediction for the same
   * key. Rejects with `CfgExchangeFailed` once the channel's bound passes or the peer is gone.
   */
  readonly exchange: (key: StepKey, mine: Float32Array) => Promise<Float32Array>
  /**
   * Tells the peer this rank gave up on `batchId` (it failed, or refused the batch), so the
   * peer's exchanges for that batch fail at once instead of waiting out their bound.
   */
  readonly abandon: (batchId: number) => void
}

/** One rank's part of a CFG split: the branch it predicts, and who predicts the other. */
export interface CfgRole {
  readonly branch: Branch
  readonly peerRank: number
  readonly channel: CfgExchange
}

/** The exchange with the peer failed; `reason` says how (timed out, connection closed). */
export class CfgExchangeFailed extends Data.TaggedError("CfgExchangeFailed")<{
  readonly peerRank: number
  readonly reason: string
  readonly key: StepKey | undefined
}> {
  override get message() {
    const where = this.key === undefined ? "" : ` (batch ${this.key.batchId}, step ${this.key.stepIndex})`
    return `CFG exchange with rank ${this.peerRank} ${this.reason}${where}`
  }
}

/**
 * Runs a guided job as one half of a CFG split: encode, `steps` steps that each predict this
 * rank's branch and exchange it, then decode unless `decode` is false (a rank whose images
 * nobody reads skips it, and leaves the shared cores to the rank that must; its `images` are
 * then empty). Timings add `exchangeMs`, the time each step waited on the peer (the rest of a
 * step is this rank's own compute).
 */
export const runSamplingCfgParallel = async (
  pipeline: Pipeline,
  config: ModelConfig,
  job: SamplingJob,
  role: CfgRole,
  batchId: number,
  options: { readonly decode: boolean } = { decode: true }
): Promise<SamplingResult> => {
  assert(job.guidanceScale !== null, "only a guided job splits its branches")
  const started = performance.now()
  const state = await prepareSampling(pipeline, config, job)
  const encoded = performance.now()
  const stepMs: Array<number> = []
  const exchangeMs: Array<number> = []
  let latents = state.initialLatents
  for (let stepIndex = 0; stepIndex < job.steps; stepIndex++) {
    const stepStarted = performance.now()
    const mine = await predictBranch(pipeline, state, latents, stepIndex, role.branch)
    const exchangeStarted = performance.now()
    const theirs = await role.channel.exchange({ batchId, stepIndex }, mine)
    exchangeMs.push(performance.now() - exchangeStarted)
    if (theirs.length !== mine.length) {
      throw new CfgExchangeFailed({ peerRank: role.peerRank, reason: `sent ${theirs.length} values, expected ${mine.length}`, key: { batchId, stepIndex } })
    }
    const [cond, uncond] = role.branch === "cond" ? [mine, theirs] : [theirs, mine]
    latents = ddimStep(state.schedule, stepIndex, latents, guidedNoise(state, cond, uncond))
    stepMs.push(performance.now() - stepStarted)
  }
  const decodeStarted = performance.now()
  const images = options.decode ? await pipeline.decode(latents, state.shape) : new Float32Array(0)
  const finished = performance.now()
  return {
    images,
    latents,
    timings: { encodeMs: encoded - started, stepMs, exchangeMs, decodeMs: finished - decodeStarted, totalMs: finished - started }
  }
}

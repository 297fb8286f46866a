/**
 * The workload generator: a seeded schedule of engine operations for one simulation run.
 *
 * Operations arrive as a Poisson process (exponential gaps at `opsPerSecond`), the usual model of
 * independent clients, so bursts and lulls both happen. Each arrival draws its kind from a
 * weighted mix. The shapes are chosen to reach the engine's interesting paths, not to look like
 * production traffic: requests come from a handful of shape classes drawn once per workload, so
 * compatibility keys repeat and batches form; some requests name an adapter that may or may not
 * be loaded; aborts and awaits target recent requests (sometimes ids never submitted); close is
 * rare, since everything after it is refused.
 *
 * Everything comes from the `Prng` handed in (the run's `workload` stream), so one seed gives one
 * schedule, and changing the fault mix never changes the workload.
 */
import { assert } from "../core/assert.ts"
import type { Prng } from "../core/random.ts"
import type { DiffusionRequestInput } from "../core/request.ts"
import { type LoraAdapter, type MemoryTag, memoryTags, type SleepLevel } from "../core/worker.ts"

export type WorkloadOp =
  | { readonly _tag: "submit"; readonly request: DiffusionRequestInput; readonly wait: boolean }
  /** Waits for a request submitted earlier with `wait: false`. */
  | { readonly _tag: "await"; readonly requestId: string }
  | { readonly _tag: "abort"; readonly requestId: string }
  | { readonly _tag: "addLora"; readonly adapter: LoraAdapter }
  | { readonly _tag: "removeLora"; readonly adapterId: number }
  | { readonly _tag: "pinLora"; readonly adapterId: number }
  | { readonly _tag: "listLoras" }
  | { readonly _tag: "sleep"; readonly level: SleepLevel }
  | { readonly _tag: "wakeUp"; readonly tags: ReadonlyArray<MemoryTag> }
  | { readonly _tag: "checkHealth" }
  | { readonly _tag: "close"; readonly timeoutMs: number }

export type WorkloadOpTag = WorkloadOp["_tag"]

export interface WorkloadConfig {
  /** Virtual milliseconds the schedule spans; every op lies in [0, durationMs]. */
  readonly durationMs: number
  /** Mean arrival rate. */
  readonly opsPerSecond: number
  /** Relative weights, merged over `defaultMix`; set a weight to 0 to leave a kind out. */
  readonly mix?: Partial<Record<WorkloadOpTag, number>> | undefined
  /** Adapter ids are drawn from 1..adapterIdsMax (default 4), so adds and removes collide. */
  readonly adapterIdsMax?: number | undefined
  readonly timeoutMs?: { readonly control?: number | undefined; readonly close?: number | undefined } | undefined
}

/** One operation and when to invoke it. `timeoutMs` bounds it (the control or close timeout). */
export interface ScheduledOp {
  readonly atMs: number
  readonly op: WorkloadOp
  readonly timeoutMs: number
}

/** Weights of the default mix; close is rare because it ends the interesting part of a run. */
export const defaultMix: Readonly<Record<WorkloadOpTag, number>> = {
  submit: 0.4, await: 0.06, abort: 0.06, addLora: 0.1, removeLora: 0.06, pinLora: 0.03, listLoras: 0.05,
  sleep: 0.05, wakeUp: 0.07, checkHealth: 0.1, close: 0.002
}

export const workloadDefaults = { adapterIdsMax: 4, controlTimeoutMs: 5_000, closeTimeoutMs: 2_000 } as const

/** Aborts and awaits pick among this many most recent requests: older ones have mostly finished. */
const recentRequestsMax = 16
const prompts = ["a red fox in snow", "a lighthouse at dusk", "an astronaut riding a horse", "still life with pears"]

/** A request shape; requests of one class share a compatibility key unless their adapter differs. */
interface RequestClass {
  readonly height: number
  readonly width: number
  readonly steps: number
  readonly outputsPerPrompt: number
  readonly video: { readonly frames: number; readonly fps: number } | undefined
  readonly outputType: "image" | "video" | "latents"
  readonly guidanceScale: number | undefined
}

interface Generation {
  readonly prng: Prng
  readonly adapterIdsMax: number
  readonly classes: ReadonlyArray<RequestClass>
  readonly recentIds: Array<string>
  readonly recentUnwaitedIds: Array<string>
  submitted: number
  unknown: number
}

/**
 * Generates the schedule: deterministic for a given `prng` state, sorted by time. The count is
 * bounded by `opsMax` (three times the expected count, plus a margin for tiny workloads): a
 * Poisson count beyond it is astronomically unlikely, so reaching it means our bug.
 */
export const generateWorkload = (prng: Prng, config: WorkloadConfig): ReadonlyArray<ScheduledOp> => {
  assert(Number.isFinite(config.durationMs) && config.durationMs >= 0, "durationMs is finite and at least 0")
  assert(Number.isFinite(config.opsPerSecond) && config.opsPerSecond > 0, "opsPerSecond is finite and positive")
  const mix = resolveMix(config.mix)
  const adapterIdsMax = config.adapterIdsMax ?? workloadDefaults.adapterIdsMax
  assert(Number.isInteger(adapterIdsMax) && adapterIdsMax >= 1, "adapterIdsMax is a positive integer")
  const controlTimeoutMs = config.timeoutMs?.control ?? workloadDefaults.controlTimeoutMs
  const closeTimeoutMs = config.timeoutMs?.close ?? workloadDefaults.closeTimeoutMs
  const expected = (config.durationMs / 1000) * config.opsPerSecond
  const opsMax = Math.ceil(expected * 3) + 32
  const generation: Generation = {
    prng, adapterIdsMax, classes: drawClasses(prng), recentIds: [], recentUnwaitedIds: [], submitted: 0, unknown: 0
  }
  const schedule: Array<ScheduledOp> = []
  let atMs = nextGapMs(prng, config.opsPerSecond)
  while (atMs <= config.durationMs) {
    assert(schedule.length < opsMax, `a workload of ${expected} expected ops stays under ${opsMax}`)
    const op = drawOp(generation, pickWeighted(prng, mix), closeTimeoutMs)
    schedule.push({ atMs: Math.floor(atMs), op, timeoutMs: op._tag === "close" ? closeTimeoutMs : controlTimeoutMs })
    atMs += nextGapMs(prng, config.opsPerSecond)
  }
  return schedule
}

const resolveMix = (mix: WorkloadConfig["mix"]): ReadonlyArray<readonly [WorkloadOpTag, number]> => {
  const weights = Object.entries({ ...defaultMix, ...mix }) as Array<[WorkloadOpTag, number]>
  for (const [tag, weight] of weights) assert(Number.isFinite(weight) && weight >= 0, `the weight of ${tag} is finite and at least 0`)
  assert(weights.some(([, weight]) => weight > 0), "some operation has a positive weight")
  return weights
}

/** An exponential gap: inverse transform of a uniform draw (1 - u lies in (0, 1], so log is finite). */
const nextGapMs = (prng: Prng, opsPerSecond: number): number => (-Math.log(1 - prng.nextFloat()) * 1000) / opsPerSecond

const pickWeighted = (prng: Prng, weights: ReadonlyArray<readonly [WorkloadOpTag, number]>): WorkloadOpTag => {
  const total = weights.reduce((sum, [, weight]) => sum + weight, 0)
  let draw = prng.nextFloat() * total
  for (const [tag, weight] of weights) {
    if (draw < weight) return tag
    draw -= weight
  }
  // Rounding can leave the draw a hair above the last bucket: it belongs to the last positive one.
  return weights.filter(([, weight]) => weight > 0).at(-1)![0]
}

/** Three to five classes: few enough that keys repeat, enough that batches also split. */
const drawClasses = (prng: Prng): ReadonlyArray<RequestClass> =>
  Array.from({ length: 3 + prng.nextInt(3) }, (): RequestClass => {
    const outputType = prng.pick(["image", "image", "video", "latents"] as const)
    return {
      height: prng.pick([16, 32, 64]),
      width: prng.pick([16, 32, 64]),
      steps: 1 + prng.nextInt(20),
      outputsPerPrompt: 1 + prng.nextInt(2),
      outputType,
      video: outputType === "video" ? { frames: 2 + prng.nextInt(3), fps: 8 } : undefined,
      guidanceScale: prng.chance(0.3) ? 3 : undefined
    }
  })

const drawOp = (generation: Generation, tag: WorkloadOpTag, closeTimeoutMs: number): WorkloadOp => {
  const { prng } = generation
  switch (tag) {
    case "submit": return drawSubmit(generation)
    case "await": return { _tag: "await", requestId: targetId(generation, generation.recentUnwaitedIds) }
    case "abort": return { _tag: "abort", requestId: targetId(generation, generation.recentIds) }
    case "addLora": return { _tag: "addLora", adapter: adapterOf(adapterId(generation)) }
    case "removeLora": return { _tag: "removeLora", adapterId: adapterId(generation) }
    case "pinLora": return { _tag: "pinLora", adapterId: adapterId(generation) }
    case "listLoras": return { _tag: "listLoras" }
    case "sleep": return { _tag: "sleep", level: prng.pick([1, 2] as const) }
    case "wakeUp": return { _tag: "wakeUp", tags: drawWakeTags(prng) }
    case "checkHealth": return { _tag: "checkHealth" }
    case "close": return { _tag: "close", timeoutMs: closeTimeoutMs }
  }
}

const drawSubmit = (generation: Generation): WorkloadOp => {
  const { prng } = generation
  const shape = prng.pick(generation.classes)
  const requestId = `request-${++generation.submitted}`
  const loraId = prng.chance(0.25) ? adapterId(generation) : undefined
  const request: DiffusionRequestInput = {
    requestId,
    prompt: prng.pick(prompts),
    seed: prng.nextUint32(),
    height: shape.height,
    width: shape.width,
    steps: shape.steps,
    outputsPerPrompt: shape.outputsPerPrompt,
    outputType: shape.outputType,
    ...(shape.video ?? {}),
    ...(shape.guidanceScale === undefined ? {} : { guidanceScale: shape.guidanceScale, negativePrompt: "blurry" }),
    ...(loraId === undefined ? {} : { lora: { id: loraId, name: adapterOf(loraId).name } })
  }
  const wait = prng.chance(0.7)
  remember(generation.recentIds, requestId)
  if (!wait) remember(generation.recentUnwaitedIds, requestId)
  return { _tag: "submit", request, wait }
}

/** A recent id most of the time; otherwise (or when there is none yet) an id never submitted. */
const targetId = (generation: Generation, candidates: ReadonlyArray<string>): string =>
  candidates.length > 0 && generation.prng.chance(0.85)
    ? generation.prng.pick(candidates)
    : `unknown-${++generation.unknown}`

const remember = (ids: Array<string>, id: string): void => {
  ids.push(id)
  if (ids.length > recentRequestsMax) ids.shift()
}

const adapterId = (generation: Generation): number => 1 + generation.prng.nextInt(generation.adapterIdsMax)

/** The adapter an id names; the same id always names the same adapter, so re-adds are equal. */
export const adapterOf = (id: number): LoraAdapter => ({ id, name: `adapter-${id}` })

/** Mostly every tag (a full wake); sometimes too few, which the rank refuses as IncompleteWake. */
const drawWakeTags = (prng: Prng): ReadonlyArray<MemoryTag> =>
  prng.chance(0.8) ? [...memoryTags] : prng.pick([["weights"], ["kv_cache"], []] as const)

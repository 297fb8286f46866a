/**
 * Sweeps across hosts: a coordinator cuts a sweep into seed ranges, puts them on a JetStream
 * work queue, and gathers per-seed results that any number of workers (sweep-worker.ts) publish.
 *
 * Streams (created by whoever comes first, idempotently):
 * - `RANKWISE_SWEEP_WORK`, subjects `rankwise.sweep.work.<sweepId>`: a work queue (each range is
 *   removed once a worker acks it). Workers share one durable pull consumer with explicit acks;
 *   a range a worker does not ack within `ackWaitMs` (it died) is redelivered, at most
 *   `deliveriesMax` times. Bounded: `workItemsMax` ranges, new ones refused past it.
 * - `RANKWISE_SWEEP_RESULTS`, subjects `rankwise.sweep.result.<sweepId>.<seed>`: one message per
 *   seed subject (a redelivered range overwrites its seeds), kept `resultsMaxAgeMs`.
 *
 * Delivery is at least once and results are keyed by seed, so the coordinator's report counts
 * every seed exactly once however often a range ran. The coordinator is bounded by its time
 * limit; when it ends it purges its sweep's leftovers from both streams.
 */
import { randomBytes } from "node:crypto"
import { AckPolicy, DiscardPolicy, type JetStreamManager, type NatsConnection, nanos, RetentionPolicy, StorageType } from "nats"
import { assert } from "../../core/assert.ts"
import type { SweepReport } from "../../simulator/sweep.ts"
import { encodeMessage } from "./protocol.ts"
import { decodeSeedResult, mergeSeedResults, type SeedResult, type SweepRun, sweepSeeds, type WorkItem } from "./sweep-results.ts"

export const sweepStreams = {
  work: "RANKWISE_SWEEP_WORK",
  results: "RANKWISE_SWEEP_RESULTS",
  workers: "rankwise-sweep-workers"
} as const

export const workSubject = (sweepId: string) => `rankwise.sweep.work.${sweepId}`
export const resultSubject = (sweepId: string, seed: number) => `rankwise.sweep.result.${sweepId}.${seed}`

export const sweepFarmDefaults = {
  ackWaitMs: 60_000,
  deliveriesMax: 5,
  workItemsMax: 10_000,
  resultsMaxAgeMs: 24 * 3_600_000,
  resultsBytesMax: 256 * 1024 * 1024,
  publishTimeoutMs: 5_000,
  /** How long one wait for a result may block, so progress and the deadline are checked. */
  pollMs: 1_000
} as const

export interface FarmSettings {
  readonly ackWaitMs: number
}

/**
 * Creates the streams and the workers' consumer if missing. `owner` (the coordinator) also sets
 * the consumer's ack wait when it differs: the ack wait is the farm's, and the coordinator is the
 * one that knows how long its seeds take.
 */
export const ensureSweepStreams = async (jsm: JetStreamManager, settings: FarmSettings, owner: boolean): Promise<void> => {
  await addStreamIfMissing(jsm, {
    name: sweepStreams.work, subjects: ["rankwise.sweep.work.>"], retention: RetentionPolicy.Workqueue, storage: StorageType.File,
    max_msgs: sweepFarmDefaults.workItemsMax, discard: DiscardPolicy.New, duplicate_window: nanos(120_000)
  })
  await addStreamIfMissing(jsm, {
    name: sweepStreams.results, subjects: ["rankwise.sweep.result.>"], retention: RetentionPolicy.Limits, storage: StorageType.File,
    max_msgs_per_subject: 1, max_age: nanos(sweepFarmDefaults.resultsMaxAgeMs), max_bytes: sweepFarmDefaults.resultsBytesMax,
    discard: DiscardPolicy.Old
  })
  const consumer = {
    durable_name: sweepStreams.workers, ack_policy: AckPolicy.Explicit, ack_wait: nanos(settings.ackWaitMs),
    max_deliver: sweepFarmDefaults.deliveriesMax, max_ack_pending: sweepFarmDefaults.workItemsMax
  }
  const existing = await jsm.consumers.info(sweepStreams.work, sweepStreams.workers).catch(() => undefined)
  if (existing === undefined) await jsm.consumers.add(sweepStreams.work, consumer).catch(() => undefined)
  else if (owner && existing.config.ack_wait !== consumer.ack_wait) await jsm.consumers.update(sweepStreams.work, sweepStreams.workers, { ack_wait: consumer.ack_wait })
}

// Another process may add the same stream at the same moment: "already in use" is success.
const addStreamIfMissing = async (jsm: JetStreamManager, config: Parameters<JetStreamManager["streams"]["add"]>[0]) => {
  const found = await jsm.streams.info(config.name!).catch(() => undefined)
  if (found === undefined) await jsm.streams.add(config).catch(async (error: unknown) => {
    if ((await jsm.streams.info(config.name!).catch(() => undefined)) === undefined) throw error
  })
}

export interface SweepPlan {
  readonly baseSeed: number
  readonly seeds: number
  readonly rangeSize: number
  readonly run: SweepRun
}

export interface CoordinatorOptions extends FarmSettings {
  /** Wall-clock bound on the whole sweep; past it the missing seeds are reported. */
  readonly timeLimitMs: number
  /** Every result as it arrives; `fresh` is false for a seed already counted. */
  readonly onResult?: ((result: SeedResult, progress: { readonly fresh: boolean; readonly received: number; readonly expected: number }) => void) | undefined
}

export interface SweepOutcome {
  readonly sweepId: string
  readonly report: SweepReport
  /** One result per seed that arrived, ascending by seed. */
  readonly results: ReadonlyArray<SeedResult>
  readonly missingSeeds: ReadonlyArray<number>
  /** Results that arrived again for a seed already counted (a redelivered range). */
  readonly duplicates: number
  readonly ranges: number
}

/** Cuts the seeds into ranges, one work item each. */
export const planRanges = (sweepId: string, plan: SweepPlan): ReadonlyArray<WorkItem> => {
  assert(Number.isInteger(plan.seeds) && plan.seeds >= 1, "a sweep runs at least one seed")
  assert(Number.isInteger(plan.rangeSize) && plan.rangeSize >= 1, "a range holds at least one seed")
  const seeds = sweepSeeds(plan.baseSeed, plan.seeds)
  const items: Array<WorkItem> = []
  for (let offset = 0; offset < seeds.length; offset += plan.rangeSize) {
    items.push({ sweepId, firstSeed: seeds[offset], count: Math.min(plan.rangeSize, seeds.length - offset), run: plan.run })
  }
  assert(items.length <= sweepFarmDefaults.workItemsMax, "the ranges fit the work queue")
  return items
}

/** Runs a sweep on the farm: publish its ranges, gather its seeds, merge. */
export const runSweepCoordinator = async (connection: NatsConnection, plan: SweepPlan, options: CoordinatorOptions): Promise<SweepOutcome> => {
  const sweepId = `s${randomBytes(6).toString("hex")}`
  const deadlineMs = performance.now() + options.timeLimitMs
  const jsm = await connection.jetstreamManager()
  await ensureSweepStreams(jsm, options, true)
  const js = connection.jetstream()
  // Listening before publishing: an early result must not be missed.
  const results = await js.consumers.get(sweepStreams.results, { filterSubjects: `rankwise.sweep.result.${sweepId}.>` })
  const ranges = planRanges(sweepId, plan)
  for (const [index, item] of ranges.entries()) {
    const msgID = `${sweepId}-range-${index}`
    await js.publish(workSubject(sweepId), encodeMessage(item), { msgID, timeout: sweepFarmDefaults.publishTimeoutMs })
  }
  const expected = new Set(sweepSeeds(plan.baseSeed, plan.seeds))
  const received = new Map<number, SeedResult>()
  let duplicates = 0
  try {
    while (received.size < expected.size && performance.now() < deadlineMs) {
      const message = await results.next({ expires: Math.max(100, Math.min(sweepFarmDefaults.pollMs, deadlineMs - performance.now())) })
      if (message === null) continue
      const decoded = decodeSeedResult(message.data)
      if (decoded._tag === "Failure" || !expected.has(decoded.success.seed)) continue
      const fresh = !received.has(decoded.success.seed)
      if (fresh) received.set(decoded.success.seed, decoded.success)
      else duplicates++
      options.onResult?.(decoded.success, { fresh, received: received.size, expected: expected.size })
    }
  } finally {
    await purgeSweep(jsm, sweepId)
  }
  const missingSeeds = [...expected].filter((seed) => !received.has(seed))
  return {
    sweepId,
    report: mergeSeedResults(plan.baseSeed, plan.seeds, received),
    results: [...received.values()].sort((a, b) => a.seed - b.seed),
    missingSeeds,
    duplicates,
    ranges: ranges.length
  }
}

/** Leftover ranges (a sweep that timed out) must not keep workers busy; results are read. */
const purgeSweep = async (jsm: JetStreamManager, sweepId: string) => {
  await jsm.streams.purge(sweepStreams.work, { filter: workSubject(sweepId) }).catch(() => undefined)
  await jsm.streams.purge(sweepStreams.results, { filter: `rankwise.sweep.result.${sweepId}.>` }).catch(() => undefined)
}

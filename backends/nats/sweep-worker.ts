/**
 * A sweep worker: takes seed ranges from the farm's work queue (sweep-farm.ts), runs each seed
 * with `runSweep`, publishes each seed's result as soon as it has it, and acks the range.
 *
 * Seeds run one at a time with a turn of the event loop between them, so the connection stays
 * alive (pings, acks) and each finished seed tells the server the range is still being worked
 * on (`working()` restarts the ack wait): the ack wait bounds one seed, not a whole range. A
 * worker that dies mid-range never acks it, so after the ack wait the server redelivers it to
 * another worker; the seeds published twice are harmless, results being keyed by seed.
 *
 * The loop is meant to run until stopped (`stop()`, or `idleExitMs` with no work, or
 * `rangesMax`); every wait inside it is bounded so a stop is noticed within `pollMs`.
 */
import { hostname } from "node:os"
import type { JsMsg, NatsConnection } from "nats"
import { runSweep } from "../../simulator/sweep.ts"
import type { SimRunResult } from "../../simulator/sim-run.ts"
import { describeNatsError } from "./connection.ts"
import { encodeMessage } from "./protocol.ts"
import { ensureSweepStreams, resultSubject, sweepFarmDefaults, sweepStreams } from "./sweep-farm.ts"
import { decodeWorkItem, type SeedResult, seedResultOf, type WorkItem } from "./sweep-results.ts"

export interface SweepWorkerOptions {
  /** How long one wait for work may block. */
  readonly pollMs?: number | undefined
  /** Exit after this long without work; runs until stopped when absent. */
  readonly idleExitMs?: number | undefined
  /** Exit after this many ranges. */
  readonly rangesMax?: number | undefined
  readonly onSeed?: ((result: SeedResult) => void) | undefined
  readonly onProblem?: ((text: string) => void) | undefined
}

export interface SweepWorker {
  readonly name: string
  /** Resolves when the loop ends: how many ranges and seeds it finished. */
  readonly done: Promise<{ readonly ranges: number; readonly seeds: number }>
  readonly stop: () => void
}

/** How many times a result publish is tried before the range is left for redelivery. */
const publishAttemptsMax = 3

export const startSweepWorker = (connection: NatsConnection, options: SweepWorkerOptions = {}): SweepWorker => {
  const name = `${hostname()}-${process.pid}`
  let stopped = false
  const done = workLoop(connection, name, options, () => stopped)
  return { name, done, stop: () => void (stopped = true) }
}

const workLoop = async (connection: NatsConnection, name: string, options: SweepWorkerOptions, stopped: () => boolean) => {
  const pollMs = options.pollMs ?? sweepFarmDefaults.pollMs
  await ensureSweepStreams(await connection.jetstreamManager(), { ackWaitMs: sweepFarmDefaults.ackWaitMs }, false)
  const consumer = await connection.jetstream().consumers.get(sweepStreams.work, sweepStreams.workers)
  let ranges = 0
  let seeds = 0
  let idleSinceMs = performance.now()
  while (!stopped() && ranges < (options.rangesMax ?? Number.POSITIVE_INFINITY)) {
    const message = await consumer.next({ expires: pollMs }).catch((error: unknown) => {
      options.onProblem?.(`waiting for work: ${describeNatsError(error)}`)
      return null
    })
    if (message === null) {
      if (options.idleExitMs !== undefined && performance.now() - idleSinceMs > options.idleExitMs) break
      if (connection.isClosed()) break
      continue
    }
    const item = decodeWorkItem(message.data)
    // A malformed item would fail the same way on every worker: terminate it, never redeliver.
    if (item._tag === "Failure") {
      options.onProblem?.(`dropping a malformed work item: ${item.failure}`)
      message.term()
      continue
    }
    const finished = await workRange(connection, name, message, item.success, options, stopped)
    seeds += finished
    if (finished === item.success.count) {
      await message.ackAck({ timeout: sweepFarmDefaults.publishTimeoutMs }).catch(() => options.onProblem?.("an ack was not confirmed; the range may run again"))
      ranges++
    }
    idleSinceMs = performance.now()
  }
  return { ranges, seeds }
}

/** Runs the range's seeds in order; answers how many were published. Stops early when told to. */
const workRange = async (
  connection: NatsConnection,
  name: string,
  message: JsMsg,
  item: WorkItem,
  options: SweepWorkerOptions,
  stopped: () => boolean
): Promise<number> => {
  const js = connection.jetstream()
  for (let index = 0; index < item.count; index++) {
    if (stopped()) return index
    const seed = (item.firstSeed + index) >>> 0
    const result = seedResultOf(item.sweepId, name, runOneSeed(item, seed))
    if (!(await publishResult(js, result))) {
      options.onProblem?.(`could not publish seed ${seed}; leaving range ${item.firstSeed}+${item.count} for redelivery`)
      message.nak()
      return index
    }
    options.onSeed?.(result)
    message.working()
    await turnOfEventLoop()
  }
  return item.count
}

/** One seed through `runSweep` (a sweep of one), keeping its full per-seed result. */
const runOneSeed = (item: WorkItem, seed: number): SimRunResult => {
  let captured: SimRunResult | undefined
  runSweep({ ...item.run, baseSeed: seed, seeds: 1, onSeed: (result) => void (captured = result) })
  return captured!
}

const publishResult = async (js: ReturnType<NatsConnection["jetstream"]>, result: SeedResult): Promise<boolean> => {
  for (let attempt = 0; attempt < publishAttemptsMax; attempt++) {
    try {
      // The msgID lets the server drop a second copy of a seed within its duplicate window.
      await js.publish(resultSubject(result.sweepId, result.seed), encodeMessage(result), {
        msgID: `${result.sweepId}-${result.seed}`, timeout: sweepFarmDefaults.publishTimeoutMs
      })
      return true
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)))
    }
  }
  return false
}

const turnOfEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * The scheduler: admission, request states, and batching by compatibility key.
 *
 * Requests move WAITING → RUNNING → FINISHED (completed, aborted or failed), each exactly once:
 * the terminal outcome is a `Deferred` completed at most once, and the state records which
 * outcome won when an abort races a completion. Batches take the head request and then the
 * following waiting requests with the same compatibility key, stopping at the first incompatible
 * one (upstream's head-of-line behaviour, kept on purpose so order is predictable). The queue is
 * bounded: past `queueCapacity` admission fails with `QueueFull`.
 */
import { Deferred, Effect } from "effect"
import { assert } from "./assert.ts"
import { DuplicateRequest, QueueFull, RequestAborted } from "./errors.ts"
import { compatibilityKey } from "./request.ts"
import type { BatchRequest } from "./worker.ts"

export type RequestState = "waiting" | "running" | "completed" | "aborted" | "failed"

/** An admitted request: its state and the one place its terminal outcome is written. */
export interface Admitted<A, E> {
  readonly request: BatchRequest
  readonly key: string
  state: RequestState
  readonly outcome: Deferred.Deferred<A, E | RequestAborted>
}

export interface SchedulerConfig {
  readonly queueCapacity: number
  readonly batchSizeMax: number
}

export interface Scheduler<A, E> {
  readonly admit: (request: BatchRequest) => Admitted<A, E> | DuplicateRequest | QueueFull
  /** The next batch (possibly empty), its requests marked running. */
  readonly nextBatch: () => ReadonlyArray<Admitted<A, E>>
  /** Writes a terminal outcome unless one was written already; answers whether this one won. */
  readonly finish: (entry: Admitted<A, E>, outcome: { readonly _tag: "completed"; readonly value: A } | { readonly _tag: "failed"; readonly error: E }) => boolean
  /** Aborts a waiting or running request; answers false when it is not active. */
  readonly abort: (requestId: string) => boolean
  /** Fails every active request with `error`; answers their ids. */
  readonly failAll: (error: E) => ReadonlyArray<string>
  /** Fails every waiting (not running) request with `error`; answers their ids. */
  readonly failWaiting: (error: E) => ReadonlyArray<string>
  readonly lookup: (requestId: string) => Admitted<A, E> | undefined
  readonly waitingCount: () => number
  readonly activeCount: () => number
}

export const makeScheduler = <A, E>(config: SchedulerConfig): Scheduler<A, E> => {
  assert(config.queueCapacity >= 1, "the admission queue holds at least one request")
  assert(config.batchSizeMax >= 1, "a batch holds at least one request")
  // Active requests by id, in admission order (Map keeps insertion order).
  const active = new Map<string, Admitted<A, E>>()
  // Finished requests stay findable for `await` after the fact, bounded like the queue.
  const finished = new Map<string, Admitted<A, E>>()

  const admit = (request: BatchRequest) => {
    if (active.has(request.requestId)) return new DuplicateRequest({ requestId: request.requestId })
    if (active.size >= config.queueCapacity) return new QueueFull({ capacity: config.queueCapacity })
    const entry: Admitted<A, E> = {
      request,
      key: compatibilityKey(request),
      state: "waiting",
      outcome: Deferred.makeUnsafe<A, E | RequestAborted>()
    }
    active.set(request.requestId, entry)
    finished.delete(request.requestId)
    return entry
  }

  const nextBatch = () => {
    const batch: Array<Admitted<A, E>> = []
    for (const entry of active.values()) {
      if (entry.state !== "waiting") continue
      if (batch.length > 0 && entry.key !== batch[0].key) break
      batch.push(entry)
      if (batch.length === config.batchSizeMax) break
    }
    for (const entry of batch) entry.state = "running"
    return batch
  }

  const settle = (entry: Admitted<A, E>, state: RequestState, effect: Effect.Effect<A, E | RequestAborted>) => {
    if (entry.state !== "waiting" && entry.state !== "running") return false
    entry.state = state
    active.delete(entry.request.requestId)
    remember(entry)
    const won = Deferred.doneUnsafe(entry.outcome, effect)
    assert(won, "a request's outcome is written once")
    return true
  }

  const remember = (entry: Admitted<A, E>) => {
    finished.set(entry.request.requestId, entry)
    if (finished.size > config.queueCapacity) finished.delete(finished.keys().next().value!)
  }

  const finish: Scheduler<A, E>["finish"] = (entry, outcome) =>
    outcome._tag === "completed"
      ? settle(entry, "completed", Effect.succeed(outcome.value))
      : settle(entry, "failed", Effect.fail(outcome.error))

  const abort = (requestId: string) => {
    const entry = active.get(requestId)
    return entry !== undefined && settle(entry, "aborted", Effect.fail(new RequestAborted({ requestId })))
  }

  const failMatching = (error: E, predicate: (entry: Admitted<A, E>) => boolean) => {
    const ids: Array<string> = []
    for (const entry of [...active.values()]) {
      if (predicate(entry) && settle(entry, "failed", Effect.fail(error))) ids.push(entry.request.requestId)
    }
    return ids
  }

  return {
    admit,
    nextBatch,
    finish,
    abort,
    failAll: (error) => failMatching(error, () => true),
    failWaiting: (error) => failMatching(error, (entry) => entry.state === "waiting"),
    lookup: (requestId) => active.get(requestId) ?? finished.get(requestId),
    waitingCount: () => [...active.values()].filter((entry) => entry.state === "waiting").length,
    activeCount: () => active.size
  }
}

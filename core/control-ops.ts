/**
 * The engine's control operations: what each does to the engine's beliefs about the ranks, and
 * how a partial failure is undone.
 *
 * Every operation gathers one outcome per rank and updates the rank views from them: an Ok rank
 * applied, a Failed rank did not (definite), a TimedOut or Crashed rank *may* have (indefinite,
 * so the belief becomes "maybe"). When a stateful operation applied on some ranks but not all,
 * the engine sends the undo to the ranks that applied or may have applied, and reports both the
 * failure and the compensation. Whatever remains uncertain or different after that is divergence:
 * the engine turns degraded and names the ranks, never pretending they agree.
 */
import { Effect } from "effect"
import { type AggregateError, agree, all, type CollectiveResult, isIndefinite, type RankOutcome } from "./control.ts"
import { type CompensationReport, ControlFailed, type WorkerError } from "./errors.ts"
import type { CallError, ExecutorShape } from "./executor.ts"
import type { CorePolicy } from "./policy.ts"
import type { RankViews, SleepBelief } from "./rank-views.ts"
import { type Health, type LoraAdapter, type LoraReport, memoryTags, type MemoryTag, type SleepLevel, type SleepReport, type WakeReport, type WorkerCall } from "./worker.ts"

export interface ControlContext {
  readonly executor: ExecutorShape
  readonly views: RankViews
  readonly policy: CorePolicy
  /** Adapters added through the engine, so a failed removal can be undone by adding them back. */
  readonly adapters: Map<number, LoraAdapter>
}

type Outcome<A> = RankOutcome<A, WorkerError>
type Verdict = "applied" | "not-applied" | "unknown"

/** Ok → applied; Failed or Unreached → not applied; TimedOut or Crashed → unknown. */
const verdictOf = (context: ControlContext, outcome: Outcome<unknown>): Verdict =>
  outcome._tag === "Ok" ? "applied" : isIndefinite(outcome) && context.policy.indefiniteOutcomes === "maybe-applied" ? "unknown" : "not-applied"

/** Whether an indefinite outcome leaves the rank's state unknown (always, unless a mutant says otherwise). */
const uncertain = (context: ControlContext, outcome: Outcome<unknown>): boolean =>
  isIndefinite(outcome) && context.policy.indefiniteOutcomes === "maybe-applied"

const failedWith = (outcome: Outcome<unknown>, tag: string): boolean =>
  outcome._tag === "Failed" && outcome.error._tag === tag

const controlFailed = (
  context: ControlContext,
  operation: string,
  result: CollectiveResult<unknown, unknown>,
  compensation: CompensationReport | undefined
) => new ControlFailed({
  operation,
  result,
  compensation,
  divergentRanks: context.views.divergence()?.divergentRanks ?? []
})

/**
 * Sends the undo `call` to `ranks`; `restored(outcome)` says whether a rank is back to its state
 * before the operation. A rank the undo cannot reach stays unrestored.
 */
const compensate = <A>(
  context: ControlContext,
  call: WorkerCall,
  ranks: ReadonlyArray<number>,
  timeoutMs: number,
  restored: (outcome: Outcome<A>) => boolean
): Effect.Effect<CompensationReport | undefined> => {
  if (ranks.length === 0 || context.policy.compensation === "off") return Effect.succeed(undefined)
  return context.executor.collectiveResult(call, { ranks, timeoutMs }).pipe(
    Effect.map((result): CompensationReport => {
      const outcomes = result.outcomes as ReadonlyArray<Outcome<A>>
      return {
        operation: call.method,
        ranks,
        outcomes: outcomes.map((outcome) => ({ rank: outcome.rank, tag: outcome._tag })),
        restoredRanks: outcomes.filter(restored).map((outcome) => outcome.rank),
        unrestoredRanks: outcomes.filter((outcome) => !restored(outcome)).map((outcome) => outcome.rank)
      }
    }),
    Effect.catch((error: CallError) =>
      Effect.succeed<CompensationReport>({
        operation: call.method, ranks, outcomes: [], restoredRanks: [], unrestoredRanks: ranks, problem: error.message
      })
    )
  )
}

/**
 * Gathers one control wave. Under the correct policy the result is what the ranks said; a
 * conformance mutant may reread it the way a broken engine would (rank 0's list for everyone,
 * sleep errors acknowledged, incomplete wake tags accepted, or a missing LoRA manager as a crash).
 */
const gather = <C extends WorkerCall>(context: ControlContext, call: C, timeoutMs: number) =>
  Effect.flatMap(context.executor.collectiveResult(call, { timeoutMs }), (result) => {
    const policy = context.policy
    if (policy.loraUnsupported === "defect" && result.outcomes.some((outcome) => failedWith(outcome, "LoraUnsupported"))) {
      return Effect.die(new Error(`AttributeError: model has no attribute 'lora_manager' (${call.method})`))
    }
    const reread = result.outcomes.map((outcome) => rereadOutcome(policy, call, outcome, result.outcomes[0]))
    return Effect.succeed({ ...result, outcomes: reread } as typeof result)
  })

const rereadOutcome = <A>(policy: CorePolicy, call: WorkerCall, outcome: Outcome<A>, first: Outcome<A>): Outcome<A> => {
  if (call.method === "listLoras" && policy.loraListing === "rank-0-only") return { ...first, rank: outcome.rank }
  if (outcome._tag !== "Failed") return outcome
  const acknowledge = (call.method === "sleep" || call.method === "wakeUp") && policy.sleepErrors === "acknowledged" && outcome.error._tag !== "NotAsleep"
  const incompleteAccepted = call.method === "wakeUp" && policy.wakeTags === "unchecked" && outcome.error._tag === "IncompleteWake"
  if (!acknowledge && !incompleteAccepted) return outcome
  const value = call.method === "sleep" ? { level: call.level, freedBytes: 0 } : { tags: [], restoredBytes: 0 }
  return { _tag: "Ok", rank: outcome.rank, value: value as A, elapsedMs: 0 }
}

/**
 * Ranks whose undo ended indefinite (TimedOut, Crashed): the undo may yet apply, so nothing
 * certain can be believed about them any more.
 */
const undoneMaybe = (context: ControlContext, compensation: CompensationReport | undefined): ReadonlyArray<number> =>
  context.policy.indefiniteOutcomes === "maybe-applied"
    ? (compensation?.outcomes ?? []).filter((outcome) => outcome.tag === "TimedOut" || outcome.tag === "Crashed").map((outcome) => outcome.rank)
    : []

const ranksWhere = <A>(context: ControlContext, result: CollectiveResult<A, WorkerError>, verdicts: ReadonlyArray<Verdict>) =>
  result.outcomes.filter((outcome) => verdicts.includes(verdictOf(context, outcome))).map((outcome) => outcome.rank)

const allOk = (result: CollectiveResult<unknown, unknown>) => result.outcomes.every((outcome) => outcome._tag === "Ok")

// ---------------------------------------------------------------------------------------------
// LoRA adapters
// ---------------------------------------------------------------------------------------------

export const addLora = (context: ControlContext, adapter: LoraAdapter, timeoutMs: number) =>
  Effect.gen(function* () {
    // Ranks that surely held the adapter before: a re-add there changes nothing, so neither its
    // outcome nor an undo may touch them (removing it would destroy state that was correct).
    const heldBefore = context.views.all().filter((view) => view.loras.has(adapter.id)).map((view) => view.rank)
    const result = yield* gather(context, { method: "addLora", adapter }, timeoutMs)
    for (const outcome of result.outcomes) {
      if (heldBefore.includes(outcome.rank)) continue
      const verdict = verdictOf(context, outcome)
      if (verdict === "applied") context.views.setLora(outcome.rank, adapter.id, "held")
      if (verdict === "unknown") context.views.setLora(outcome.rank, adapter.id, "maybe")
    }
    if (allOk(result)) {
      context.adapters.set(adapter.id, adapter)
      return result.outcomes.map((outcome) => (outcome as { value: LoraReport }).value)
    }
    // Undo where it applied or may have: removing from a rank that never added it answers
    // LoraNotFound, which also means "absent", so indefinite ranks are safe to include.
    const undoRanks = ranksWhere(context, result, ["applied", "unknown"]).filter((rank) => !heldBefore.includes(rank))
    const compensation = yield* compensate<LoraReport>(
      context, { method: "removeLora", adapterId: adapter.id }, undoRanks, timeoutMs,
      (outcome) => outcome._tag === "Ok" || failedWith(outcome, "LoraNotFound")
    )
    for (const rank of compensation?.restoredRanks ?? []) context.views.setLora(rank, adapter.id, "absent")
    for (const rank of undoneMaybe(context, compensation)) context.views.setLora(rank, adapter.id, "maybe")
    return yield* Effect.fail(controlFailed(context, "addLora", result, compensation))
  })

/** Where a removal took the adapter away, and where it was already absent (LoraNotFound). */
export interface RemoveSummary {
  readonly adapterId: number
  readonly removedRanks: ReadonlyArray<number>
  readonly alreadyAbsentRanks: ReadonlyArray<number>
}

export const removeLora = (context: ControlContext, adapterId: number, timeoutMs: number) =>
  Effect.gen(function* () {
    const result = yield* gather(context, { method: "removeLora", adapterId }, timeoutMs)
    for (const outcome of result.outcomes) {
      if (outcome._tag === "Ok" || failedWith(outcome, "LoraNotFound")) context.views.setLora(outcome.rank, adapterId, "absent")
      else if (uncertain(context, outcome)) context.views.setLora(outcome.rank, adapterId, "maybe")
    }
    // Absent everywhere afterwards is success, even where a rank never held it (that is how a
    // divergence left by a failed compensation is repaired); absent everywhere before is not.
    const absent = (outcome: Outcome<LoraReport>) => outcome._tag === "Ok" || failedWith(outcome, "LoraNotFound")
    if (result.outcomes.every(absent) && result.outcomes.some((outcome) => outcome._tag === "Ok")) {
      context.adapters.delete(adapterId)
      const removedRanks = result.outcomes.filter((outcome) => outcome._tag === "Ok").map((outcome) => outcome.rank)
      const alreadyAbsentRanks = result.outcomes.filter((outcome) => outcome._tag !== "Ok").map((outcome) => outcome.rank)
      return { adapterId, removedRanks, alreadyAbsentRanks } satisfies RemoveSummary
    }
    const adapter = context.adapters.get(adapterId)
    const removedSomewhere = ranksWhere(context, result, ["applied", "unknown"])
    const keptSomewhere = result.outcomes.some((outcome) => outcome._tag === "Failed" && !failedWith(outcome, "LoraNotFound"))
    // Undo only when some rank kept the adapter: then re-adding restores agreement.
    const compensation = adapter && keptSomewhere
      ? yield* compensate<LoraReport>(context, { method: "addLora", adapter }, removedSomewhere, timeoutMs, (outcome) => outcome._tag === "Ok")
      : undefined
    for (const rank of compensation?.restoredRanks ?? []) context.views.setLora(rank, adapterId, "held")
    for (const rank of undoneMaybe(context, compensation)) context.views.setLora(rank, adapterId, "maybe")
    return yield* Effect.fail(controlFailed(context, "removeLora", result, compensation))
  })

/** Pinning changes no state the engine tracks; it succeeds only where every rank pinned. */
export const pinLora = (context: ControlContext, adapterId: number, timeoutMs: number) =>
  Effect.flatMap(gather(context, { method: "pinLora", adapterId }, timeoutMs), (result) => Effect.fromResult(all<LoraReport>().aggregate(result)))

/**
 * Reads every rank's adapter list, replaces beliefs with those facts, and answers the list only
 * when all ranks agree; otherwise `RankDivergence` names who holds what (upstream showed rank 0's
 * list and hid the divergence).
 */
export const listLoras = (context: ControlContext, timeoutMs: number): Effect.Effect<ReadonlyArray<number>, AggregateError | CallError> =>
  Effect.gen(function* () {
    const result = yield* gather(context, { method: "listLoras" }, timeoutMs)
    for (const outcome of result.outcomes) {
      if (outcome._tag === "Ok") context.views.setLoras(outcome.rank, outcome.value)
      if (failedWith(outcome, "LoraUnsupported")) context.views.setLoras(outcome.rank, [])
    }
    return yield* Effect.fromResult(agree<ReadonlyArray<number>>().aggregate(result))
  })

// ---------------------------------------------------------------------------------------------
// Sleep and wake
// ---------------------------------------------------------------------------------------------

export interface SleepSummary {
  readonly level: SleepLevel
  readonly freedBytesTotal: number
  readonly freedBytesByRank: ReadonlyArray<{ readonly rank: number; readonly freedBytes: number }>
}

export const sleep = (context: ControlContext, level: SleepLevel, timeoutMs: number) =>
  Effect.gen(function* () {
    const result = yield* gather(context, { method: "sleep", level }, timeoutMs)
    for (const outcome of result.outcomes) {
      const verdict = verdictOf(context, outcome)
      if (verdict === "applied") context.views.setSleep(outcome.rank, level)
      if (verdict === "unknown") context.views.setSleep(outcome.rank, "maybe")
      if (outcome._tag === "Failed" && outcome.error._tag === "AlreadyAsleep") {
        context.views.setSleep(outcome.rank, outcome.error.level as SleepLevel)
      }
    }
    if (allOk(result)) {
      const freedBytesByRank = result.outcomes.map((outcome) => ({
        rank: outcome.rank, freedBytes: (outcome as { value: SleepReport }).value.freedBytes
      }))
      const freedBytesTotal = freedBytesByRank.reduce((total, entry) => total + entry.freedBytes, 0)
      return { level, freedBytesTotal, freedBytesByRank } satisfies SleepSummary
    }
    const compensation = yield* compensate<WakeReport>(
      context, { method: "wakeUp", tags: memoryTags }, ranksWhere(context, result, ["applied", "unknown"]), timeoutMs,
      (outcome) => outcome._tag === "Ok" || failedWith(outcome, "NotAsleep")
    )
    for (const rank of compensation?.restoredRanks ?? []) context.views.setSleep(rank, 0)
    for (const rank of undoneMaybe(context, compensation)) context.views.setSleep(rank, "maybe")
    return yield* Effect.fail(controlFailed(context, "sleep", result, compensation))
  })

export interface WakeSummary {
  readonly tags: ReadonlyArray<MemoryTag>
  readonly restoredBytesTotal: number
  /** Ranks that were already awake: a second wake is a no-op, not an error. */
  readonly alreadyAwakeRanks: ReadonlyArray<number>
}

export const wakeUp = (context: ControlContext, tags: ReadonlyArray<MemoryTag>, timeoutMs: number) =>
  Effect.gen(function* () {
    const levelsBefore = context.views.all().map((view) => view.sleep)
    const result = yield* gather(context, { method: "wakeUp", tags }, timeoutMs)
    const awake = (outcome: Outcome<WakeReport>) => outcome._tag === "Ok" || failedWith(outcome, "NotAsleep")
    for (const outcome of result.outcomes) {
      if (awake(outcome)) context.views.setSleep(outcome.rank, 0)
      else if (uncertain(context, outcome)) context.views.setSleep(outcome.rank, "maybe")
    }
    if (result.outcomes.every(awake)) {
      const restoredBytesTotal = result.outcomes.reduce(
        (total, outcome) => total + (outcome._tag === "Ok" ? outcome.value.restoredBytes : 0), 0
      )
      const alreadyAwakeRanks = result.outcomes.filter((outcome) => outcome._tag === "Failed").map((outcome) => outcome.rank)
      return { tags, restoredBytesTotal, alreadyAwakeRanks } satisfies WakeSummary
    }
    // Some ranks woke and some did not: put the woken ones back to the level they slept at.
    const level = commonLevel(levelsBefore)
    const woke = result.outcomes.filter((outcome) => outcome._tag === "Ok" || uncertain(context, outcome)).map((outcome) => outcome.rank)
    const compensation = level === undefined
      ? undefined
      : yield* compensate<SleepReport>(context, { method: "sleep", level }, woke, timeoutMs, (outcome) => outcome._tag === "Ok")
    for (const rank of compensation?.restoredRanks ?? []) context.views.setSleep(rank, level!)
    for (const rank of undoneMaybe(context, compensation)) context.views.setSleep(rank, "maybe")
    return yield* Effect.fail(controlFailed(context, "wakeUp", result, compensation))
  })

const commonLevel = (levels: ReadonlyArray<SleepBelief>): SleepLevel | undefined => {
  const asleep = levels.filter((level): level is SleepLevel => level === 1 || level === 2)
  return asleep.length > 0 && asleep.every((level) => level === asleep[0]) ? asleep[0] : undefined
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

/** Asks every rank; each healthy answer also replaces the engine's beliefs about that rank. */
export const checkHealth = (context: ControlContext, timeoutMs: number): Effect.Effect<ReadonlyArray<Health>, AggregateError | CallError> =>
  Effect.gen(function* () {
    const result = yield* context.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs })
    for (const outcome of result.outcomes) {
      if (outcome._tag !== "Ok") continue
      context.views.setLoras(outcome.rank, outcome.value.loras)
      context.views.setSleep(outcome.rank, outcome.value.sleepLevel ?? 0)
    }
    return yield* Effect.fromResult(all<Health>().aggregate(result))
  })

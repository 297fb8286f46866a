/**
 * The history of a simulation run: every operation, from its invocation to its completion, with
 * what each rank did.
 *
 * As in a Jepsen history, an operation is invoked at one virtual instant and completes at a later
 * one with a value or an error; operations overlap, so the history is what the checker reads to
 * decide whether what the engine answered was allowed. Each completion also records a per-rank
 * status in Jepsen's three words: `ok` (the rank applied the call), `fail` (it surely did not),
 * `info` (no one can know: the rank timed out or crashed mid-call). The checker never infers a
 * rank's fate from `ok` alone; `info` is what makes a later "maybe" belief legitimate.
 *
 * `args` follows one convention, so the checker can read it: the fields of the workload's op
 * (`simulator/workload.ts`) without its `_tag`, for example `{ adapter }`, `{ adapterId }`,
 * `{ level }`, `{ tags }`, `{ request, wait }`, `{ requestId }`, `{ timeoutMs }`, `{ rank }`.
 */
import { Cause, Exit } from "effect"
import { assert } from "../core/assert.ts"
import type { RankOutcome } from "../core/control.ts"

export type OperationKind =
  | "submit" | "await" | "abort" | "addLora" | "removeLora" | "pinLora" | "listLoras" | "sleep" | "wakeUp"
  | "checkHealth" | "close" | "kill" | "heal"

/** Control operations the engine sends to every rank: a success means every rank answered. */
export const allRankKinds: ReadonlyArray<OperationKind> = [
  "addLora", "removeLora", "pinLora", "listLoras", "sleep", "wakeUp", "checkHealth"
]

/** What one rank did for one operation. `info` is indefinite (TimedOut, Crashed). */
export interface RankStatus {
  readonly rank: number
  readonly status: "ok" | "fail" | "info"
  /** `Ok`, the worker error's tag for a Failed rank (`LoraNotFound`), or the outcome's tag. */
  readonly tag: string
}

export interface HistoryEntry {
  /** Invocation order, from 1. */
  readonly id: number
  readonly kind: OperationKind
  readonly args: unknown
  readonly invokedAtMs: number
  completedAtMs?: number
  ok?: boolean
  value?: unknown
  errorTag?: string
  errorMessage?: string
  ranks?: ReadonlyArray<RankStatus>
}

export interface History {
  readonly worldSize: number
  /** Records an invocation; call it before the operation starts. */
  readonly invoke: (kind: OperationKind, args: unknown, atMs: number) => HistoryEntry
  /** Records the completion of `entry`, once, with per-rank statuses drawn from `exit`. */
  readonly complete: (entry: HistoryEntry, exit: Exit.Exit<unknown, unknown>, atMs: number) => void
  /** Every entry, in invocation order. */
  readonly entries: () => ReadonlyArray<HistoryEntry>
  /** Entries invoked and not yet completed, in invocation order. */
  readonly pending: () => ReadonlyArray<HistoryEntry>
}

export interface HistoryOptions {
  /** Ranks of the cluster: a successful all-rank operation records a status for each. */
  readonly worldSize: number
  /** Most entries one history holds (default 1,000,000); more is a runaway workload, asserted. */
  readonly entriesMax?: number | undefined
}

const entriesMaxDefault = 1_000_000

/** Makes an empty history. Use one per run. */
export const makeHistory = (options: HistoryOptions): History => {
  const entriesMax = options.entriesMax ?? entriesMaxDefault
  assert(Number.isInteger(options.worldSize) && options.worldSize >= 1, "a history covers at least one rank")
  assert(Number.isInteger(entriesMax) && entriesMax >= 1, "entriesMax is a positive integer")
  const all: Array<HistoryEntry> = []
  // Pending entries by id; a Map keeps invocation order and makes completion O(1).
  const pending = new Map<number, HistoryEntry>()

  const invoke = (kind: OperationKind, args: unknown, atMs: number): HistoryEntry => {
    assert(all.length < entriesMax, `a history holds at most ${entriesMax} entries`)
    assert(Number.isFinite(atMs), "an invocation happens at a finite virtual time")
    const entry: HistoryEntry = { id: all.length + 1, kind, args, invokedAtMs: atMs }
    all.push(entry)
    pending.set(entry.id, entry)
    return entry
  }

  const complete = (entry: HistoryEntry, exit: Exit.Exit<unknown, unknown>, atMs: number): void => {
    assert(pending.get(entry.id) === entry, `operation ${entry.id} (${entry.kind}) is pending when it completes`)
    assert(atMs >= entry.invokedAtMs, "an operation completes no earlier than it was invoked")
    pending.delete(entry.id)
    entry.completedAtMs = atMs
    Object.assign(entry, Exit.isSuccess(exit)
      ? { ok: true, value: exit.value, ranks: successStatuses(entry, exit.value, options.worldSize) }
      : failureFields(failureOf(exit)))
  }

  return { worldSize: options.worldSize, invoke, complete, entries: () => all, pending: () => [...pending.values()] }
}

/** The typed error of a failed exit; a defect or an interruption becomes a tagged stand-in. */
export const failureOf = (exit: Exit.Failure<unknown, unknown>): unknown => {
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure) return failure.error
  const defect = exit.cause.reasons.find(Cause.isDieReason)
  if (defect) return { _tag: "Defect", message: String((defect.defect as Error | undefined)?.stack ?? defect.defect) }
  return { _tag: "Interrupted", message: "the operation was interrupted" }
}

/** The status Jepsen would give an outcome: definite answers are ok/fail, the rest info. */
export const statusOf = (outcome: RankOutcome<unknown, unknown>): RankStatus => {
  switch (outcome._tag) {
    case "Ok": return { rank: outcome.rank, status: "ok", tag: "Ok" }
    case "Failed": return { rank: outcome.rank, status: "fail", tag: tagOf(outcome.error) ?? "Failed" }
    case "Unreached": return { rank: outcome.rank, status: "fail", tag: "Unreached" }
    case "TimedOut": case "Crashed": return { rank: outcome.rank, status: "info", tag: outcome._tag }
  }
}

/** The outcomes an error carries (`CollectiveRpcError`, `ControlFailed`), if it carries any. */
export const outcomesOf = (error: unknown): ReadonlyArray<RankOutcome<unknown, unknown>> | undefined => {
  const result = (error as { readonly result?: { readonly outcomes?: unknown } } | null)?.result
  return Array.isArray(result?.outcomes) ? result.outcomes as ReadonlyArray<RankOutcome<unknown, unknown>> : undefined
}

export const tagOf = (value: unknown): string | undefined => {
  const tag = (value as { readonly _tag?: unknown } | null | undefined)?._tag
  return typeof tag === "string" ? tag : undefined
}

const failureFields = (error: unknown): Partial<HistoryEntry> => {
  const outcomes = outcomesOf(error)
  // Every rank answered a listLoras that disagreed: all of them are ok, the aggregate failed.
  const groups = tagOf(error) === "RankDivergence"
    ? (error as { readonly groups: ReadonlyArray<{ readonly ranks: ReadonlyArray<number> }> }).groups
    : undefined
  const ranks = outcomes?.map(statusOf)
    ?? groups?.flatMap((group) => group.ranks).sort((a, b) => a - b).map((rank): RankStatus => ({ rank, status: "ok", tag: "Ok" }))
  const message = (error as { readonly message?: unknown } | null)?.message
  return {
    ok: false,
    errorTag: tagOf(error) ?? "Unknown",
    errorMessage: typeof message === "string" ? message : String(error),
    ...(ranks ? { ranks } : {})
  }
}

/**
 * A successful all-rank operation was applied by every rank, except where the summary says a rank
 * answered a definite "nothing to do": removeLora's `alreadyAbsentRanks` (LoraNotFound) and
 * wakeUp's `alreadyAwakeRanks` (NotAsleep). Other kinds have no per-rank statuses.
 */
const successStatuses = (entry: HistoryEntry, value: unknown, worldSize: number): ReadonlyArray<RankStatus> | undefined => {
  if (!allRankKinds.includes(entry.kind)) return undefined
  const declined = entry.kind === "removeLora"
    ? { ranks: (value as { readonly alreadyAbsentRanks?: ReadonlyArray<number> }).alreadyAbsentRanks ?? [], tag: "LoraNotFound" }
    : entry.kind === "wakeUp"
    ? { ranks: (value as { readonly alreadyAwakeRanks?: ReadonlyArray<number> }).alreadyAwakeRanks ?? [], tag: "NotAsleep" }
    : { ranks: [], tag: "" }
  return Array.from({ length: worldSize }, (_, rank): RankStatus =>
    declined.ranks.includes(rank) ? { rank, status: "fail", tag: declined.tag } : { rank, status: "ok", tag: "Ok" })
}

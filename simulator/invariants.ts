/**
 * The reference checker: after every completed operation, and once at the end of a run, it
 * compares what the engine answered and believes with what a sequential reference of the engine
 * allows and with the ranks' ground truth.
 *
 * The reference is small on purpose. It keeps, per request id, the one terminal outcome observed
 * so far and whether an abort succeeded; per run, the engine state last observed, when a rank was
 * first seen dead, and the close reports. Everything else is checked against the operation's own
 * arguments, the rank truth (`RankTruth`, read from the ranks, never from the engine) and the
 * engine's views. Each invariant has a stable id (`invariantStatements`); a violation names it,
 * the operation and the virtual instant, so a failing seed reads as a contract it broke.
 *
 * Concurrency: operations overlap, and an engine updates its views only when a collective call
 * completes while ranks change their state as they apply it. So a view may differ from the truth
 * about the subject of an operation still in flight (an adapter being added, a sleep level being
 * changed); `Observation.inFlight` says which, and only those comparisons are skipped. A "maybe"
 * belief is always allowed: it is the engine saying it does not know.
 *
 * The checks live by concept under `invariants/`: `answers.ts` (one answer on its own),
 * `requests.ts` (the request book), `closing.ts` (close and the end of a run), `state.ts` (the
 * engine's state against the lifecycle and the truth), over the shared `reference.ts`.
 */
import { Clock, Effect, Exit } from "effect"
import type { RankTruth } from "../backends/harness.ts"
import type { CloseReport, EngineShape } from "../core/engine.ts"
import type { EngineState } from "../core/lifecycle.ts"
import type { RankView } from "../core/rank-views.ts"
import { failureOf, type History, type HistoryEntry } from "./history.ts"
import { checkCompensation, checkDefect, checkFreedBytes, checkOutcomeShape, checkReplies, checkSuccessAccounting, notePaths } from "./invariants/answers.ts"
import { checkCloseBound, checkCloseReport, endProblem } from "./invariants/closing.ts"
import { type Completed, makeReference, notePath, type Problem, type Reference } from "./invariants/reference.ts"
import { abortedWithoutAbort, checkOutputDigests, checkRequestOutcome, recordClosedRequests } from "./invariants/requests.ts"
import { observationProblems } from "./invariants/state.ts"

/** What the checker sees right after an operation completes (or at the end of a run). */
export interface Observation {
  readonly atMs: number
  readonly engineState: EngineState
  /** A frozen copy of the engine's views (`observe` makes one: the engine's own are live). */
  readonly views: ReadonlyArray<RankView>
  readonly truth: ReadonlyArray<RankTruth>
  /** Operations invoked and not yet completed, besides the one just completed. */
  readonly inFlight: ReadonlyArray<HistoryEntry>
}

export interface Violation {
  /** An `InvariantId`, or a runner's own (for example a liveness budget it ran out of). */
  readonly invariant: string
  readonly message: string
  readonly operation: HistoryEntry | undefined
  readonly atMs: number
}

export interface Checker {
  /** Checks one completed operation; the first violation found, if any. */
  readonly afterOperation: (entry: HistoryEntry, exit: Exit.Exit<unknown, unknown>, observation: Observation) => Violation | undefined
  /** Checks the end of a run, after the liveness phase and the final close. */
  readonly atEnd: (history: History, observation: Observation, closeReports: ReadonlyArray<CloseReport>) => Violation | undefined
  /** Rare paths reached, counted, for the coverage table. */
  readonly paths: () => ReadonlyMap<string, number>
  /** Counts a path the runner sees and the checker cannot (for example stale replies dropped). */
  readonly notePath: (name: string) => void
}

/** The invariants, each with its one-line statement. Ids are stable: reports and tests name them. */
export const invariantStatements = {
  /** An error's outcomes name every targeted rank once, ascending; a compensation's restored and unrestored ranks split the ranks it was sent to. */
  "one-outcome-per-rank": "an error's outcomes name every targeted rank once, ascending",
  /** A collective reported as failed has a non-Ok outcome; a success reports every rank. */
  "success-iff-all-ok": "a failed collective has a non-Ok outcome, and a success accounts for every rank",
  /** Every Ok value answers its own call (no stale reply delivered): right rank, adapter, level, requester. */
  "reply-matches-call": "every Ok value answers its own call: right rank, adapter, level and request",
  /** A definite belief of the engine (adapter held or absent, sleep level) is never false; ready and asleep hold no doubt. */
  "no-silent-divergence": "a definite belief of the engine is never false, and ready or asleep means no doubt",
  /** Once a rank is dead, the engine is failed (or closing or closed) by the next later observation. */
  "dead-rank-fails-engine": "a dead rank fails the engine before the next later observation",
  /** A request ends once: all its observed terminal outcomes agree, and a successful abort means it ended aborted. */
  "single-terminal-outcome": "a request ends once, and an acknowledged abort means it ended aborted",
  /** A completed request's outputs are the deterministic digests of that request, one per output. */
  "output-matches-request": "a completed request's outputs are the digests of that request",
  /** Close answers a report within its timeoutMs of virtual time. */
  "close-bounded": "close answers a report within its timeoutMs",
  /** A close report's survivors are exactly the live ranks; closed or failed means none alive. */
  "close-report-matches-truth": "a close report names exactly the live ranks as survivors",
  /** An addLora or sleep that applied (or may have) on some ranks but not all sends its undo to exactly those ranks. */
  "partial-failure-compensated": "a partial addLora or sleep is undone on exactly the ranks that applied or may have",
  /** A successful sleep's freedBytesTotal is the sum of its freedBytesByRank. */
  "freed-bytes-add-up": "a sleep's freedBytesTotal is the sum of freedBytesByRank",
  /** Observed engine states follow the lifecycle's transitions (closed is final, failed never serves again). */
  "state-follows-lifecycle": "observed engine states follow the lifecycle's transitions",
  /** No operation dies with a defect: an assertion in our code fired. */
  "no-defect": "no operation dies with a defect",
  /** At the end: nothing pending, the last close closed (or failed), no rank alive. */
  "end-all-complete": "at the end nothing is pending, the last close closed and no rank is alive"
} as const

export type InvariantId = keyof typeof invariantStatements
export const invariantIds: ReadonlyArray<InvariantId> = Object.keys(invariantStatements) as Array<InvariantId>

export interface CheckerOptions {
  readonly worldSize: number
  readonly outputRank: number
  /** Virtual ms a death may take to reach the engine (the transport's reply delay); default 0. */
  readonly deathNoticeMs?: number | undefined
  /** Compare outputs with the simulated model's digests (default true; off for other backends). */
  readonly checkDigests?: boolean | undefined
}

/**
 * Reads an observation from the engine, the ranks and the history; views are copied. Run it in a
 * fiber of the world (`yield*` it right after the operation): it reads the world's virtual Clock,
 * which `Effect.runSync` outside the world would replace with the host's.
 */
export const observe = (source: {
  readonly engine: EngineShape
  readonly truth: () => Effect.Effect<ReadonlyArray<RankTruth>>
  readonly history: History
}): Effect.Effect<Observation> =>
  Effect.gen(function* () {
    const views = (yield* source.engine.views).map((view): RankView => ({
      rank: view.rank, loras: new Set(view.loras), lorasMaybe: new Set(view.lorasMaybe), sleep: view.sleep
    }))
    return {
      atMs: yield* Clock.currentTimeMillis,
      engineState: yield* source.engine.state,
      views,
      truth: yield* source.truth(),
      inFlight: source.history.pending()
    }
  })

// ---------------------------------------------------------------------------------------------
// The checker.
// ---------------------------------------------------------------------------------------------

/** Makes a checker for one run. */
export const makeChecker = (options: CheckerOptions): Checker => {
  const reference = makeReference(options)
  const violation = (problem: Problem | undefined, operation: HistoryEntry | undefined, atMs: number): Violation | undefined =>
    problem && { invariant: problem[0], message: problem[1], operation, atMs }

  const afterOperation: Checker["afterOperation"] = (entry, exit, observation) => {
    const completed: Completed = {
      entry, observation, args: (entry.args ?? {}) as Record<string, unknown>, ok: Exit.isSuccess(exit),
      value: Exit.isSuccess(exit) ? exit.value : undefined, error: Exit.isFailure(exit) ? failureOf(exit) : undefined
    }
    notePaths(reference, completed)
    // Every check runs, even after a violation, so the reference stays in step with the run.
    const problems = [...operationChecks.map((check) => check(reference, completed)), ...observationProblems(reference, observation)]
    return violation(problems.find((problem) => problem !== undefined), entry, observation.atMs)
  }

  const atEnd: Checker["atEnd"] = (history, observation, closeReports) => {
    const problems = [
      ...closeReports.map((report) => recordClosedRequests(reference, report)),
      endProblem(history, observation, closeReports),
      abortedWithoutAbort(reference),
      ...observationProblems(reference, observation)
    ]
    return violation(problems.find((problem) => problem !== undefined), undefined, observation.atMs)
  }

  return {
    afterOperation,
    atEnd,
    paths: () => reference.paths,
    notePath: (name) => notePath(reference, name)
  }
}

/** Checks of one answer, in the order their violations are reported. */
const operationChecks: ReadonlyArray<(reference: Reference, op: Completed) => Problem | undefined> = [
  checkDefect, checkOutcomeShape, checkSuccessAccounting, checkReplies, checkCompensation, checkFreedBytes, checkRequestOutcome,
  checkOutputDigests, checkCloseBound, checkCloseReport
]

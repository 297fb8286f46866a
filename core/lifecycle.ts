/**
 * The engine's state machine and its close report.
 *
 * States: starting → ready ⇄ asleep; ready/asleep → degraded → ready/asleep; any live state →
 * failed (a rank died); any → closing → closed | pending-cleanup | failed. `pending-cleanup`
 * returns to closing when close is retried. Transitions outside this table are our bug and are
 * asserted, never silently taken.
 */
import { assert } from "./assert.ts"
import type { ExitInfo } from "./control.ts"

export type EngineState =
  | "starting" | "ready" | "asleep" | "degraded" | "failed" | "closing" | "closed" | "pending-cleanup"

const transitions: Record<EngineState, ReadonlyArray<EngineState>> = {
  starting: ["ready", "failed", "closing"],
  ready: ["asleep", "degraded", "failed", "closing"],
  asleep: ["ready", "degraded", "failed", "closing"],
  degraded: ["ready", "asleep", "failed", "closing"],
  failed: ["closing"],
  closing: ["closed", "pending-cleanup"],
  "pending-cleanup": ["closing"],
  closed: []
}

export const canTransition = (from: EngineState, to: EngineState): boolean =>
  from === to || transitions[from].includes(to)

export const assertTransition = (from: EngineState, to: EngineState): void =>
  assert(canTransition(from, to), () => `engine state ${from} → ${to} is a legal transition`)

/** States in which the engine still serves requests or control operations. */
export const isLive = (state: EngineState): boolean =>
  state === "ready" || state === "asleep" || state === "degraded" || state === "starting"

/**
 * What `close` did. `closed`: nothing of the engine is left running. `pending-cleanup`: the
 * ranks in `survivingRanks` are still running; calling close again retries them. `failed`:
 * nothing is left running either, but the engine had already failed (a rank died) before close
 * was called, so the run did not end cleanly; `problem` says which rank died.
 */
export interface CloseReport {
  readonly state: "closed" | "pending-cleanup" | "failed"
  /** Requests that close ended with `EngineClosed`, in admission order. */
  readonly failedRequests: ReadonlyArray<string>
  readonly stoppedRanks: ReadonlyArray<number>
  readonly survivingRanks: ReadonlyArray<number>
  readonly exits: ReadonlyArray<{ readonly rank: number; readonly exit: ExitInfo }>
  /** How many times close ran its cleanup (1 on the first call). */
  readonly attempts: number
  readonly elapsedMs: number
  readonly problem?: string | undefined
}

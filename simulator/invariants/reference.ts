/**
 * The checker's reference: the little a sequential model of the engine must remember between
 * operations, and the shapes every check shares.
 *
 * Per request id it keeps the first terminal outcome observed and whether an abort of it was
 * acknowledged; per run, the engine state last observed, when a rank was first seen dead, whether
 * a close left ranks behind, and the rare paths counted so far. Checks are plain functions over a
 * `Reference` and a `Completed` operation that answer a `Problem` (an invariant id and why) or
 * nothing; only the request book and the counters change the reference.
 */
import type { EngineState } from "../../core/lifecycle.ts"
import type { HistoryEntry } from "../history.ts"
import type { CheckerOptions, InvariantId, Observation } from "../invariants.ts"

export interface RequestRecord {
  input: unknown
  /** The first terminal outcome observed: `completed:<batchId>` or `failed:<tag>`. */
  outcome: string | undefined
  abortAcknowledged: boolean
}

export interface Reference {
  readonly options: Required<CheckerOptions>
  readonly requests: Map<string, RequestRecord>
  readonly paths: Map<string, number>
  lastState: EngineState | undefined
  deadSinceMs: number | undefined
  pendingCleanupSeen: boolean
}

/** What one check sees of one completed operation. */
export interface Completed {
  readonly entry: HistoryEntry
  readonly args: Record<string, unknown>
  readonly ok: boolean
  readonly value: unknown
  readonly error: unknown
  readonly observation: Observation
}

export type Problem = readonly [InvariantId, string]

export const stripUndefined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, inner]) => inner !== undefined)) as T

export const ranksUpTo = (worldSize: number) => Array.from({ length: worldSize }, (_, rank) => rank)
export const sameNumbers = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.length === b.length && a.every((item, index) => item === b[index])
export const ascending = (items: ReadonlyArray<number>) => [...items].sort((a, b) => a - b)
export const isSortedIds = (value: unknown) =>
  Array.isArray(value) && value.every((id, index) => Number.isInteger(id) && (index === 0 || value[index - 1] < id))

export const makeReference = (options: CheckerOptions): Reference => ({
  options: { deathNoticeMs: 0, checkDigests: true, ...stripUndefined(options) },
  requests: new Map(),
  paths: new Map(),
  lastState: undefined,
  deadSinceMs: undefined,
  pendingCleanupSeen: false
})

/** Counts one more visit of a rare path. */
export const notePath = (reference: Reference, name: string): void =>
  void reference.paths.set(name, (reference.paths.get(name) ?? 0) + 1)

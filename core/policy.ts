/**
 * The core's decision points, named, so the conformance suites can prove they matter.
 *
 * Each field is one decision the engine or executor makes where upstream runtimes went wrong. The
 * correct choice is `correctPolicy`, the default everywhere. The conformance suites' mutants
 * (conformance/mutants/) run the *real* core with one decision flipped to a known-broken
 * choice (rank 0's answer taken for everyone, a stale reply accepted, a close that reports
 * `closed` while ranks live) and require that some property catches it. A policy is plain data
 * passed through configuration; nothing switches it on by default.
 */
export interface CorePolicy {
  /** How a gathered wave is read: every rank (correct), rank 0 for everyone, or stop at the first failure. */
  readonly waveReading: "every-rank" | "rank-0-only" | "first-failure-wins"
  /** How the `and` aggregator combines booleans. */
  readonly booleanAggregation: "and" | "or"
  /** Whether a reply must carry the id of a pending wave (correct), or goes to the rank's oldest pending wave. */
  readonly waveIds: "checked" | "ignored"
  /** What a TimedOut or Crashed outcome means to the engine: maybe applied (correct), or surely not. */
  readonly indefiniteOutcomes: "maybe-applied" | "not-applied"
  /** Whether a rank's sleep or wake error is reported (correct) or acknowledged as success. */
  readonly sleepErrors: "reported" | "acknowledged"
  /** Whose adapter list `listLoras` reads: every rank (correct) or rank 0's for everyone. */
  readonly loraListing: "every-rank" | "rank-0-only"
  /** Whether a partially applied control operation is undone. */
  readonly compensation: "on" | "off"
  /** Whether a batch needs every rank Ok (correct) or only the output rank. */
  readonly dataPlane: "every-rank" | "output-rank-only"
  /** Whether a rank's exit fails the executor at once (correct) or is noticed only through timeouts. */
  readonly deathDetection: "exit-event" | "timeout-only"
  /** Whether close reports what is still running (correct) or always says `closed`. */
  readonly closeReport: "truthful" | "always-closed"
  /** Whether close ends every active request with EngineClosed (correct) or leaves them waiting. */
  readonly closePendingRequests: "fail" | "abandon"
  /** Whether `IncompleteWake` is an error (correct) or counted as awake. */
  readonly wakeTags: "checked" | "unchecked"
  /** Whether a model without LoRA answers `LoraUnsupported` (correct) or the call dies (upstream's AttributeError). */
  readonly loraUnsupported: "typed" | "defect"
}

export const correctPolicy: CorePolicy = {
  waveReading: "every-rank",
  booleanAggregation: "and",
  waveIds: "checked",
  indefiniteOutcomes: "maybe-applied",
  sleepErrors: "reported",
  loraListing: "every-rank",
  compensation: "on",
  dataPlane: "every-rank",
  deathDetection: "exit-event",
  closeReport: "truthful",
  closePendingRequests: "fail",
  wakeTags: "checked",
  loraUnsupported: "typed"
}

/** The correct policy with `overrides` applied. */
export const resolvePolicy = (overrides: Partial<CorePolicy> | undefined): CorePolicy =>
  overrides === undefined ? correctPolicy : { ...correctPolicy, ...overrides }

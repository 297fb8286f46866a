/**
 * Rankwise public API (package main export).
 *
 * One `export *` per core module; names do not clash between them. Relative imports end in
 * `.ts` so the same file runs under tsx (Node), Bun and Deno, and `tsc -p tsconfig.build.json`
 * rewrites them to `.js` in dist/.
 */

// Typed errors: worker errors (Schema.TaggedError, wire-safe) and executor/engine errors.
export * from "./core/errors.ts"

// Per-rank outcomes, the collective envelope and aggregators
// (all, and, sum, agree, fromRank, CollectiveRpcError, RankDivergence, isIndefinite, describeOutcome, ...).
export * from "./core/control.ts"

// Diffusion requests: schema, defaults, limits, decodeRequest, compatibilityKey.
export * from "./core/request.ts"

// The Worker service tag, its types, the WorkerCall wire union, dispatch and workerMethods.
export * from "./core/worker.ts"

// The RankTransport service tag and its message types.
export * from "./core/transport.ts"

// Seeded randomness (Randomness service, makePrng, makeStream, ...).
export * from "./core/random.ts"

// Internal invariant checks (assert, InvariantViolation).
export * from "./core/assert.ts"

// Output envelopes (modalities, fromLegacy, splitPerPrompt, toLegacy, ...).
export * from "./core/output.ts"

// The Executor service: collective calls, the data plane, rank-death detection, shutdown escalation.
export * from "./core/executor.ts"
export type { ShutdownOptions, ShutdownReport } from "./core/shutdown.ts"

// The Engine service: admission, busy loop, control operations with compensation, close.
export * from "./core/engine.ts"
export type { CloseReport, EngineState } from "./core/lifecycle.ts"
export type { RankView } from "./core/rank-views.ts"
export type { RequestState } from "./core/scheduler.ts"

/**
 * The floor of what a collective costs the core, shared by the executor and simulator benchmarks:
 * `Effect.all` over `ranks` no-op rank effects with `mode: "result"`, then the `all` aggregator.
 * No messages, no waves, no deadline: what is left when everything but aggregation is free.
 */
import { Effect, Result } from "effect"
import { all } from "../core/control.ts"

/** Bare aggregations per wall second over `ranks` no-op ranks. */
export const floorRate = (ranks: number, calls: number): number => {
  const rankEffects = Array.from({ length: ranks }, () => Effect.succeed({ ok: true }))
  const aggregate = all<unknown>()
  const program = Effect.gen(function* () {
    const started = performance.now()
    for (let call = 0; call < calls; call++) {
      const results = yield* Effect.all(rankEffects, { concurrency: "unbounded", mode: "result" })
      const outcomes = results.map((result, rank) =>
        Result.isSuccess(result) ? { _tag: "Ok" as const, rank, value: result.success, elapsedMs: 0 } : { _tag: "Unreached" as const, rank, reason: "" })
      aggregate.aggregate({ method: "noop", waveId: call, outcomes })
    }
    return performance.now() - started
  })
  return calls / (Effect.runSync(program) / 1000)
}

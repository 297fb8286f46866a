/**
 * A hand-built report for the report tests: small, with every section filled, a failing property
 * whose counterexample holds markup, and hostile names in places a writer might forget to escape.
 */
import type { ConformanceReport } from "../../conformance/runner.ts"
import type { MutantReport } from "../../conformance/mutants/run.ts"
import type { RankwiseReport } from "../../report/model.ts"
import type { SweepReport } from "../../simulator/sweep.ts"
import type { TraceEvent } from "../../simulator/trace.ts"

export const injection = "<script>alert('x')</script>"

export const sampleConformance: ConformanceReport = {
  backend: "sim",
  seed: 7,
  numRuns: 25,
  policy: undefined,
  properties: [
    { id: "AGG-1", statement: "an all-rank call succeeds iff every targeted rank is Ok", verdict: "passed", runs: 25, durationMs: 3 },
    {
      id: "CONS-2", statement: "a partial control call is compensated", verdict: "failed", runs: 2,
      reason: `ranks 1 still hold adapter "21" & more`, counterexample: `{"name":"${injection}"}`,
      replay: "rankwise check --backend sim --property CONS-2 --seed 7 --path 0:1", seed: 7, path: "0:1", durationMs: 4
    },
    { id: "DET-1", statement: "same seed, same trace", verdict: "skipped", runs: 0, reason: "needs virtual time", durationMs: 0 }
  ],
  totals: { passed: 1, failed: 1, skipped: 1 },
  durationMs: 7
}

export const sampleMutants: MutantReport = {
  backend: "sim",
  seed: 7,
  mutants: [
    {
      id: "rank-0-only-replies", description: "rank 0's answer stands for every rank", killed: true, killedBy: ["AGG-1"],
      expectedKillers: ["AGG-1", "AGG-2"], expectedKillerHit: true, properties: [], durationMs: 5
    },
    {
      id: "no-compensation", description: "a partially applied <b>control</b> operation is left as it is", killed: false, killedBy: [],
      expectedKillers: ["CONS-2"], expectedKillerHit: false, properties: [], durationMs: 9
    }
  ],
  totals: { mutants: 2, killed: 1, survived: 1, expectedKillerMissed: 1 },
  durationMs: 14
}

export const sampleSweep: SweepReport = {
  baseSeed: 1,
  seeds: 4,
  passed: 3,
  failures: [{ seed: 3, status: "safety", violation: { invariant: "agree", message: "ranks <differ>", operation: undefined, atMs: 12 }, configuration: "faults: throw", replay: "rankwise simulate --seed 3" }],
  coverage: [
    { point: "call.throw", method: "addLora", phase: "safety", fired: 1, seeds: 1 },
    { point: "call.throw", method: "addLora", phase: "liveness", fired: 2, seeds: 1 },
    { point: "net.reorder", method: "execute", phase: "safety", fired: 120, seeds: 4 },
    { point: "wake.oom", method: "wakeUp", phase: "safety", fired: 9, seeds: 2 }
  ],
  paths: [{ path: "stale-reply-dropped", seeds: 2 }],
  missingPaths: ["compensation-failed-degraded"],
  operations: 300,
  virtualMs: 8_000
}

export const sampleEvents: ReadonlyArray<TraceEvent> = [
  { track: "engine", name: "addLora", atMs: 0, durationMs: 40, args: { ok: true } },
  { track: "engine", name: "submit", atMs: 10, durationMs: 60, args: { ok: false, error: "ControlFailed" } },
  { track: "engine", name: "listLoras", atMs: 20, durationMs: 5, args: { ok: true } },
  { track: "executor", name: "addLora: rank 1 TimedOut", atMs: 40 },
  { track: { rank: 0 }, name: "addLora", atMs: 1, durationMs: 3, args: { wave: 1 } },
  { track: { rank: 1 }, name: "addLora", atMs: 1, durationMs: 0, args: { wave: 1 } },
  { track: { rank: 1 }, name: "call.throw", atMs: 2, args: { method: "addLora" } },
  { track: { rank: 1 }, name: "exited", atMs: 70, args: { detail: injection } }
]

export const sampleReport: RankwiseReport = {
  version: 1,
  createdAt: "2026-01-02T03:04:05.000Z",
  runtime: { name: "node", version: "20.20.2" },
  timings: { conformance: 7, mutants: 14, sweep: 1_500 },
  backends: [{
    backend: "sim",
    conformance: sampleConformance,
    mutants: sampleMutants,
    sweep: sampleSweep,
    timeline: { label: "seed 1", events: sampleEvents, worldSize: 2, traceFile: "traces/seed 1.json" },
    images: [{ caption: "before LoRA", file: "before.png" }, { caption: "after LoRA", file: "after.png" }]
  }]
}

/**
 * Simulator throughput against in-run baselines (printed, never asserted: machines are noisy).
 * Run: `npx tsx bench/simulator.bench.ts [--json FILE]`.
 *
 * - collective RPCs: the real executor over 8 simulated ranks with a swarm-like fault mix
 *   (throws, slow calls, duplicated and dropped replies, network delay), calls per wall second;
 * - floor: the bare aggregation over 8 no-op rank effects (`Effect.all` with `mode: "result"`,
 *   then the `all` aggregator), what the core cannot go below; the ratio says how far above it
 *   the simulated collective runs;
 * - workload: a seeded 8-rank run of the whole engine (submits, LoRA, sleep/wake, health,
 *   close) with swarm faults, virtual seconds per wall second.
 */
import { writeFileSync } from "node:fs"
import { Effect, Exit, Scope } from "effect"
import { floorRate as floorOver } from "./floor.ts"
import { makeExecutor } from "../core/executor.ts"
import { makeSimCluster } from "../backends/sim/cluster.ts"
import { runSimulation } from "../simulator/sim-run.ts"
import { makeWorld } from "../simulator/world.ts"

const ranks = 8
const budget = { virtualMsMax: 1e12, eventsMax: 1e10 }

const collectiveRate = (calls: number): number => {
  const world = makeWorld({ seed: 11, shuffleReadyTasks: true })
  const program = Effect.gen(function* () {
    const cluster = yield* makeSimCluster({
      worldSize: ranks, seed: 11, model: {},
      rules: [
        { kind: "throw", method: "checkHealth", probability: 0.02 },
        { kind: "slow", method: "checkHealth", probability: 0.02, delayMs: 5 },
        { kind: "duplicateReply", method: "checkHealth", probability: 0.02 },
        { kind: "dropReply", method: "checkHealth", probability: 0.005 }
      ],
      network: { reply: { delayMs: { kind: "uniform", minMs: 0, maxMs: 2 } } }
    })
    const executor = yield* makeExecutor(cluster.transport)
    const started = performance.now()
    for (let call = 0; call < calls; call++) {
      yield* executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 20 })
    }
    return performance.now() - started
  }).pipe(Effect.provideService(Scope.Scope, Scope.makeUnsafe()))
  const result = world.run(program, budget)
  if (result._tag !== "Done" || Exit.isFailure(result.exit)) throw new Error(`collective bench ended ${result._tag}`)
  return calls / (result.exit.value / 1000)
}

const floorRate = (calls: number): number => floorOver(ranks, calls)

const workloadRatio = (): { virtualPerWall: number; operations: number } => {
  const started = performance.now()
  const result = runSimulation({ seed: 5, ranks, durationMs: 60_000, faults: { _tag: "swarm" } })
  const wallMs = performance.now() - started
  return { virtualPerWall: result.virtualMs / wallMs, operations: result.operations.invoked }
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const main = () => {
  collectiveRate(2_000) // warm-up: JIT and Effect's first-use paths
  floorRate(20_000)
  const collective = median([collectiveRate(20_000), collectiveRate(20_000), collectiveRate(20_000)])
  const floor = median([floorRate(100_000), floorRate(100_000), floorRate(100_000)])
  const workload = workloadRatio()
  const rows = [
    { name: "simulated 8-rank collective RPCs (swarm faults)", value: collective, unit: "calls/s" },
    { name: "floor: bare aggregation over 8 no-op ranks", value: floor, unit: "calls/s" },
    { name: "floor / simulated collective", value: floor / collective, unit: "x" },
    { name: "8-rank workload: simulated seconds per wall second", value: workload.virtualPerWall, unit: "x" }
  ]
  for (const row of rows) console.log(`${row.name.padEnd(54)} ${row.value.toFixed(row.unit === "x" ? 2 : 0).padStart(12)} ${row.unit}`)
  const jsonIndex = process.argv.indexOf("--json")
  if (jsonIndex > 0) writeFileSync(process.argv[jsonIndex + 1], JSON.stringify({ bench: "simulator", runtime: process.versions, rows }, null, 2))
}

main()

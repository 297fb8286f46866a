/**
 * The core executor alone, against the bare aggregation floor measured in the same run (printed,
 * never asserted). Run: `npx tsx bench/executor.bench.ts [--json FILE]`.
 *
 * Splits what a collective costs: the simulator benchmark measures the executor together with
 * simulated rank hosts, links and virtual time; here the transport is a stub that answers every
 * targeted rank Ok on the next microtask, so what is left is the executor's own work per wave
 * (wave book, deadline, aggregation, one fiber suspension) on Effect's real runtime.
 *
 * - floor: `Effect.all` over 8 no-op rank effects with `mode: "result"`, then the `all` aggregator;
 * - executor: `collectiveRpc({ method: "checkHealth" }, { aggregate: all() })` over 8 stub ranks.
 */
import { writeFileSync } from "node:fs"
import { Effect } from "effect"
import { all } from "../core/control.ts"
import { floorRate as floorOver } from "./floor.ts"
import { makeExecutor } from "../core/executor.ts"
import type { RankTransportShape, TransportEvent } from "../core/transport.ts"

const ranks = 8

/** Answers every targeted rank Ok, one microtask after the send, as a fast transport would. */
const stubTransport = (): RankTransportShape => {
  let handler: (event: TransportEvent) => void = () => {}
  return {
    worldSize: ranks,
    send: (message, targets) =>
      Effect.sync(() => {
        queueMicrotask(() => {
          for (const rank of targets) handler({ _tag: "Reply", reply: { rank, waveId: message.waveId, result: { _tag: "Ok", value: true } } })
        })
        return []
      }),
    listen: (listener) => Effect.sync(() => void (handler = listener)),
    signal: () => Effect.void
  }
}

const executorRate = (calls: number): Promise<number> =>
  Effect.runPromise(Effect.gen(function* () {
    const executor = yield* makeExecutor(stubTransport())
    const aggregate = all<unknown>()
    const started = performance.now()
    for (let call = 0; call < calls; call++) yield* executor.collectiveRpc({ method: "checkHealth" }, { timeoutMs: 1_000, aggregate })
    return calls / ((performance.now() - started) / 1000)
  }))

const floorRate = (calls: number): number => floorOver(ranks, calls)

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const main = async () => {
  await executorRate(5_000) // warm-up: JIT and Effect's first-use paths
  floorRate(20_000)
  // Alternate the two, so drift in the machine's load hits both alike.
  const executor: Array<number> = []
  const floor: Array<number> = []
  for (let round = 0; round < 3; round++) {
    executor.push(await executorRate(30_000))
    floor.push(floorRate(100_000))
  }
  const rows = [
    { name: "executor alone: 8-rank collectiveRpc, stub transport", value: median(executor), unit: "calls/s" },
    { name: "floor: bare aggregation over 8 no-op ranks", value: median(floor), unit: "calls/s" },
    { name: "floor / executor alone", value: median(floor) / median(executor), unit: "x" },
    { name: "executor CPU per wave", value: 1e6 / median(executor), unit: "µs" }
  ]
  for (const row of rows) console.log(`${row.name.padEnd(54)} ${row.value.toFixed(row.unit === "calls/s" ? 0 : 2).padStart(12)} ${row.unit}`)
  const jsonIndex = process.argv.indexOf("--json")
  if (jsonIndex > 0) writeFileSync(process.argv[jsonIndex + 1], JSON.stringify({ bench: "executor", runtime: process.versions, rows }, null, 2))
}

await main()

/**
 * `npm run bench`: runs every benchmark in bench/ and prints one table of ratios against the
 * baselines each measured in the same run, plus `bench-results.json`.
 *
 * How to read it: absolute times drift on shared machines, so each benchmark measures its own
 * floor next to the thing it benchmarks (bare aggregation for the simulator, raw IPC for rank
 * processes, raw NATS request/reply, the same ONNX sessions called directly) and the ratio is the
 * figure that matters. A ratio near 1 means Rankwise adds little over the floor.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

interface Row { readonly name: string; readonly value: number; readonly unit: string }

const benches = ["executor", "simulator", "process-collective", "onnx", "nats-collective"]
/** A benchmark that runs past this is stopped and reported as such. */
const benchTimeoutMs = 300_000

const runBench = (name: string, folder: string): { rows: ReadonlyArray<Row>; problem?: string } => {
  const file = join("bench", `${name}.bench.ts`)
  if (!existsSync(file)) return { rows: [], problem: "not present" }
  const json = join(folder, `${name}.json`)
  const result = spawnSync(process.execPath, [...process.execArgv, file, "--json", json], { stdio: ["ignore", "inherit", "inherit"], timeout: benchTimeoutMs })
  if (result.status !== 0 || !existsSync(json)) return { rows: [], problem: `exit ${result.status ?? result.signal}` }
  return { rows: (JSON.parse(readFileSync(json, "utf8")) as { rows: ReadonlyArray<Row> }).rows }
}

/** Ratios and milliseconds need their decimals (a 0.4 ms baseline is not "0 ms"); counts and µs do not. */
const decimalsOf = (unit: string): number => (unit === "x" || unit === "ms" ? 2 : 0)

const main = () => {
  const folder = mkdtempSync(join(tmpdir(), "rankwise-bench-"))
  const results: Record<string, { rows: ReadonlyArray<Row>; problem?: string }> = {}
  try {
    for (const name of benches) {
      console.log(`\n== bench ${name}`)
      results[name] = runBench(name, folder)
    }
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
  console.log("\n== summary (ratios are against a baseline measured in the same run)")
  for (const [name, result] of Object.entries(results)) {
    if (result.problem) console.log(`${name.padEnd(20)} ${result.problem}`)
    for (const row of result.rows) {
      console.log(`${name.padEnd(20)} ${row.name.padEnd(56)} ${row.value.toFixed(decimalsOf(row.unit)).padStart(12)} ${row.unit}`)
    }
  }
  writeFileSync("bench-results.json", JSON.stringify({ runtime: process.versions, results }, null, 2))
  console.log("\nwrote bench-results.json")
}

main()

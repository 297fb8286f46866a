/**
 * Round trip of one collective call across 4 rank processes, against the raw IPC floor measured
 * in the same run (printed, never asserted: the machine is noisy). Run:
 * `npx tsx bench/process-collective.bench.ts` (also `bun` / `deno run -A` on this file).
 *
 * - `raw IPC`: the floor. 4 plain child processes that echo; each round broadcasts one small
 *   message and gathers 4 replies of the size a health reply has. No schema, no executor, no Effect.
 * - `collective`: `executor.collectiveResult({ method: "checkHealth" })` over the process
 *   transport: schema-decoded on both sides, wave ids, the simulated worker's real `checkHealth`.
 * - `transport only`: the same rank processes and transport with no executor on top (send a
 *   wave, count 4 decoded replies), which splits the difference into what the rank processes
 *   and transport add and what the core executor adds.
 *
 * The three alternate in blocks, so drift in the machine's load hits all alike. The ratio of the
 * p50s is what the process backend adds on top of IPC itself (aim: at most 1.5x). The optional
 * argument sets the number of ranks (default 4).
 */
import { type ChildProcess, fork } from "node:child_process"
import { rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { makeExecutor } from "../core/executor.ts"
import type { RankTransportShape } from "../core/transport.ts"
import { startProcessCluster } from "../backends/process/cluster.ts"
import { currentRuntime } from "../backends/process/launch.ts"
import { summary, transportRounds } from "./rounds.ts"

// argv[2] is the rank in an echo child, or an optional rank count; flags such as --json are not.
const positional = process.argv[2]?.startsWith("--") ? undefined : process.argv[2]
const ranks = Number(positional ?? 4)
const warmupCalls = 300
const callsPerBlock = 500
const blocks = 4
const timeoutMs = 5_000

// ---------------------------------------------------------------------------------------------
// The floor: plain echo children.
// ---------------------------------------------------------------------------------------------

/** A health reply's shape, so both sides move the same bytes. */
const echoProgram = `
process.on("message", (message) => process.send({ t: "reply", waveId: message.waveId, result: { _tag: "Ok",
  value: { rank: Number(process.argv[2]), asleep: false, sleepLevel: null, loras: [], usedBytes: 4294967296, device: "simgpu:0" } } }))
process.on("disconnect", () => process.exit(0))
process.send("ready")
`

const echoPath = join(tmpdir(), `rankwise-bench-echo-${process.pid}.mjs`)

const startEchoes = async (): Promise<ReadonlyArray<ChildProcess>> => {
  const path = echoPath
  writeFileSync(path, echoProgram)
  const children = Array.from({ length: ranks }, (_, rank) =>
    fork(path, [String(rank)], { ...(currentRuntime() === "node" ? { execArgv: [] } : {}), stdio: ["ignore", "inherit", "inherit", "ipc"] }))
  await Promise.all(children.map((child) => new Promise((resolve) => child.once("message", resolve))))
  return children
}

/** One broadcast and gather, in milliseconds. */
const echoRound = (children: ReadonlyArray<ChildProcess>, waveId: number) =>
  new Promise<number>((resolve) => {
    const startedMs = performance.now()
    let pending = children.length
    const onReply = () => {
      if (--pending === 0) resolve(performance.now() - startedMs)
    }
    for (const child of children) {
      child.once("message", onReply)
      child.send({ t: "wave", waveId, call: { method: "checkHealth" } })
    }
  })

const measureEchoes = async (children: ReadonlyArray<ChildProcess>, calls: number, samples: Array<number>) => {
  for (let call = 0; call < calls; call++) samples.push(await echoRound(children, call + 1))
}

const stopEchoes = (children: ReadonlyArray<ChildProcess>) =>
  Promise.all(children.map((child) => new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })))

// ---------------------------------------------------------------------------------------------
// The process backend: the executor's collective call.
// ---------------------------------------------------------------------------------------------

const collectiveLoop = (executor: Effect.Success<ReturnType<typeof makeExecutor>>, calls: number, samples: Array<number>) =>
  Effect.gen(function* () {
    for (let call = 0; call < calls; call++) {
      const startedMs = performance.now()
      const result = yield* executor.collectiveResult({ method: "checkHealth" }, { timeoutMs })
      samples.push(performance.now() - startedMs)
      if (result.outcomes.some((outcome) => outcome._tag !== "Ok")) throw new Error(`call ${call} was not Ok on every rank`)
    }
  })

// ---------------------------------------------------------------------------------------------
// The transport alone: what the rank processes and the IPC transport cost without the executor.
// ---------------------------------------------------------------------------------------------

/** Rounds of the transport alone (rounds.ts), their times pushed onto `samples`. */
const transportLoop = async (transport: RankTransportShape) => {
  const round = await transportRounds(transport)
  return async (calls: number, samples: Array<number>) => {
    for (let call = 0; call < calls; call++) samples.push(await round())
  }
}

// ---------------------------------------------------------------------------------------------
// Report.
// ---------------------------------------------------------------------------------------------

const runtimeVersion = () => process.versions.bun ?? process.versions.deno ?? process.version

const microseconds = (ms: number) => `${Math.round(ms * 1000)} µs`

const main = async () => {
  const echoes = await startEchoes()
  const cluster = await startProcessCluster({ worldSize: ranks })
  const bare = await startProcessCluster({ worldSize: ranks })
  const executor = await Effect.runPromise(makeExecutor(cluster.transport))
  const measureTransport = await transportLoop(bare.transport)
  try {
    await measureEchoes(echoes, warmupCalls, [])
    await Effect.runPromise(collectiveLoop(executor, warmupCalls, []))
    await measureTransport(warmupCalls, [])
    const floor: Array<number> = []
    const collective: Array<number> = []
    const transportOnly: Array<number> = []
    for (let block = 0; block < blocks; block++) {
      await measureEchoes(echoes, callsPerBlock, floor)
      await Effect.runPromise(collectiveLoop(executor, callsPerBlock, collective))
      await measureTransport(callsPerBlock, transportOnly)
    }
    const raw = summary(floor)
    const ours = summary(collective)
    const wire = summary(transportOnly)
    const line = (name: string, figures: { p50: number; p99: number }) =>
      console.log(`${name.padEnd(34)} p50 ${microseconds(figures.p50).padStart(8)}   p99 ${microseconds(figures.p99).padStart(8)}   (p50 ${(figures.p50 / raw.p50).toFixed(2)}x floor)`)
    console.log(`runtime ${currentRuntime()} ${runtimeVersion()}, ${ranks} rank processes, ${blocks * callsPerBlock} calls each (after ${warmupCalls} warm-up), launch ${cluster.launch.mode}`)
    line("raw IPC broadcast+gather (floor)", raw)
    line("transport only (ranks + schemas)", wire)
    line("executor.collectiveResult", ours)
    console.log(`ratio collective / floor: p50 ${(ours.p50 / raw.p50).toFixed(2)}x, p99 ${(ours.p99 / raw.p99).toFixed(2)}x`)
    writeJson([
      { name: "4-rank process collective p50", value: ours.p50 * 1000, unit: "µs" },
      { name: "raw IPC broadcast+gather p50 (floor)", value: raw.p50 * 1000, unit: "µs" },
      { name: "process collective / raw IPC, p50", value: ours.p50 / raw.p50, unit: "x" },
      { name: "process collective / raw IPC, p99", value: ours.p99 / raw.p99, unit: "x" }
    ])
  } finally {
    await stopEchoes(echoes)
    rmSync(echoPath, { force: true })
    await cluster.dispose()
    await bare.dispose()
  }
}

/** With `--json FILE`, the figures as rows for `npm run bench`'s table. */
const writeJson = (rows: ReadonlyArray<{ name: string; value: number; unit: string }>) => {
  const index = process.argv.indexOf("--json")
  if (index > 0) writeFileSync(process.argv[index + 1], JSON.stringify({ bench: "process-collective", rows }, null, 2))
}

await main()

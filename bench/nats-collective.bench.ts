/**
 * Round trip of one collective call across 4 ranks over NATS on loopback, against raw NATS
 * request/reply to 4 responders in the same run (printed, never asserted: the machine is noisy).
 * Starts its own nats-server (scripts/install-nats.sh installs one). Run:
 * `npx tsx bench/nats-collective.bench.ts` (also `bun` / `deno run -A` on this file).
 *
 * - `raw request/reply` (the floor): 4 plain NATS responder processes; each round sends 4
 *   requests at once and waits for the 4 replies, of the size a health reply has. No schema,
 *   no executor, no Effect.
 * - `raw broadcast+gather`: the same responders; one publish heard by all 4, replies to one
 *   inbox: the wire pattern the transport uses (one publish per wave).
 * - `collective`: `executor.collectiveResult({ method: "checkHealth" })` over the NATS
 *   transport and 4 rank processes: schema-decoded on both sides, wave ids, incarnation
 *   envelopes, heartbeats running, the simulated worker's real `checkHealth`.
 * - `transport only`: a second cluster of 4 ranks with no executor on top (send a wave, count 4
 *   decoded replies), which splits the difference into what the transport and rank processes
 *   add and what the core executor adds.
 *
 * The three alternate in blocks, so drift in the machine's load hits all alike. The ratio of the
 * p50s is what the backend adds on top of NATS itself (aim: at most 1.5x). The optional argument
 * sets the number of ranks (default 4).
 */
import { type ChildProcess, fork, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { connect, createInbox, type NatsConnection } from "nats"
import { makeExecutor } from "../core/executor.ts"
import { startNatsCluster } from "../backends/nats/cluster.ts"
import { currentRuntime } from "../backends/process/launch.ts"
import { summary, transportRounds } from "./rounds.ts"

// argv[2] is "echo" in the echo child, or an optional rank count; flags such as --json are not.
const positional = process.argv[2]?.startsWith("--") ? undefined : process.argv[2]
const ranks = positional === "echo" ? 0 : Number(positional ?? 4)
const warmupCalls = 300
const callsPerBlock = 500
const blocks = 4
const timeoutMs = 5_000
const token = "bench-token"
const encoder = new TextEncoder()

// ---------------------------------------------------------------------------------------------
// The responders: this file, forked with `echo URL RANK`.
// ---------------------------------------------------------------------------------------------

/** A health reply's shape, so both sides move the same bytes. */
const healthReply = (rank: number) => encoder.encode(JSON.stringify({ session: "s", rank, incarnation: 1, message: { t: "reply", waveId: 1, result: { _tag: "Ok",
  value: { rank, asleep: false, sleepLevel: null, loras: [], usedBytes: 4294967296, device: `simgpu:${rank}` } } } }))

const runEcho = async (url: string, rank: number) => {
  const connection = await connect({ servers: url, token })
  const reply = healthReply(rank)
  connection.subscribe(`bench.echo.${rank}`, { callback: (_error, message) => message.respond(reply) })
  connection.subscribe("bench.wave", { callback: (_error, message) => message.respond(reply) })
  await connection.flush()
  process.send?.("ready")
  process.on("disconnect", () => process.exit(0))
}

const startEchoes = async (url: string): Promise<ReadonlyArray<ChildProcess>> => {
  const self = fileURLToPath(import.meta.url)
  const children = Array.from({ length: ranks }, (_, rank) => fork(self, ["echo", url, String(rank)], { stdio: ["ignore", "inherit", "inherit", "ipc"] }))
  await Promise.all(children.map((child) => new Promise((resolve) => child.once("message", resolve))))
  return children
}

// ---------------------------------------------------------------------------------------------
// The floors.
// ---------------------------------------------------------------------------------------------

const requestRound = async (connection: NatsConnection, request: Uint8Array) => {
  const startedMs = performance.now()
  await Promise.all(Array.from({ length: ranks }, (_, rank) => connection.request(`bench.echo.${rank}`, request, { timeout: timeoutMs })))
  return performance.now() - startedMs
}

/** One publish to every responder, replies gathered on one inbox subscription. */
const makeBroadcast = (connection: NatsConnection) => {
  const inbox = createInbox()
  let pending = 0
  let done: () => void = () => {}
  connection.subscribe(inbox, { callback: () => { if (--pending === 0) done() } })
  return (request: Uint8Array) => new Promise<number>((resolve) => {
    const startedMs = performance.now()
    pending = ranks
    done = () => resolve(performance.now() - startedMs)
    connection.publish("bench.wave", request, { reply: inbox })
  })
}

// ---------------------------------------------------------------------------------------------
// Report.
// ---------------------------------------------------------------------------------------------

const microseconds = (ms: number) => `${Math.round(ms * 1000)} µs`
const runtimeVersion = () => process.versions.bun ?? process.versions.deno ?? process.version

const freePort = () => new Promise<number>((resolve) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
  })
})

const startServer = async () => {
  const port = await freePort()
  const storeDir = mkdtempSync(join(tmpdir(), "rankwise-bench-nats-"))
  // Debian's package installs to /usr/sbin, which a non-root PATH may lack.
  const binary = existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server"
  const child = spawn(binary, ["-a", "127.0.0.1", "-p", String(port), "--auth", token, "-sd", storeDir], { stdio: ["ignore", "ignore", "pipe"] })
  await new Promise<void>((resolve, reject) => {
    let log = ""
    child.once("error", (error) => reject(new Error(`nats-server could not start (scripts/install-nats.sh installs it): ${error.message}`)))
    child.stderr!.on("data", (chunk: Buffer) => { log += String(chunk); if (log.includes("Server is ready")) resolve() })
  })
  return { url: `nats://127.0.0.1:${port}`, stop: () => { child.kill("SIGKILL"); rmSync(storeDir, { recursive: true, force: true }) } }
}

const main = async () => {
  const server = await startServer()
  const echoes = await startEchoes(server.url)
  const connection = await connect({ servers: server.url, token })
  const cluster = await startNatsCluster({ url: server.url, auth: { _tag: "Token", token }, worldSize: ranks, cluster: "bench" })
  const bare = await startNatsCluster({ url: server.url, auth: { _tag: "Token", token }, worldSize: ranks, cluster: "bench-bare" })
  const executor = await Effect.runPromise(makeExecutor(cluster.transport))
  const wire = await transportRounds(bare.transport)
  const broadcast = makeBroadcast(connection)
  const request = encoder.encode(JSON.stringify({ t: "wave", session: "s", waveId: 1, ranks: [0, 1, 2, 3], call: { method: "checkHealth" } }))
  const collective = async () => {
    const startedMs = performance.now()
    const result = await Effect.runPromise(executor.collectiveResult({ method: "checkHealth" }, { timeoutMs }))
    if (result.outcomes.some((outcome) => outcome._tag !== "Ok")) throw new Error("a collective call was not Ok on every rank")
    return performance.now() - startedMs
  }
  const measure = async (round: () => Promise<number>, calls: number, samples: Array<number>) => {
    for (let call = 0; call < calls; call++) samples.push(await round())
  }
  try {
    const floor: Array<number> = []
    const gathered: Array<number> = []
    const transportOnly: Array<number> = []
    const ours: Array<number> = []
    await measure(() => requestRound(connection, request), warmupCalls, [])
    await measure(() => broadcast(request), warmupCalls, [])
    await measure(wire, warmupCalls, [])
    await measure(collective, warmupCalls, [])
    for (let block = 0; block < blocks; block++) {
      await measure(() => requestRound(connection, request), callsPerBlock, floor)
      await measure(() => broadcast(request), callsPerBlock, gathered)
      await measure(wire, callsPerBlock, transportOnly)
      await measure(collective, callsPerBlock, ours)
    }
    const raw = summary(floor)
    const line = (name: string, figures: { p50: number; p99: number }) =>
      console.log(`${name.padEnd(36)} p50 ${microseconds(figures.p50).padStart(8)}   p99 ${microseconds(figures.p99).padStart(8)}   (p50 ${(figures.p50 / raw.p50).toFixed(2)}x floor)`)
    console.log(`runtime ${currentRuntime()} ${runtimeVersion()}, ${ranks} ranks over nats-server on loopback, ${blocks * callsPerBlock} calls each (after ${warmupCalls} warm-up)`)
    line("raw request/reply x4 (floor)", raw)
    line("raw broadcast + gather", summary(gathered))
    line("transport only (ranks + schemas)", summary(transportOnly))
    line("executor.collectiveResult over NATS", summary(ours))
    const collectiveFigures = summary(ours)
    console.log(`ratio collective / raw request-reply: p50 ${(collectiveFigures.p50 / raw.p50).toFixed(2)}x, p99 ${(collectiveFigures.p99 / raw.p99).toFixed(2)}x`)
    const jsonIndex = process.argv.indexOf("--json")
    if (jsonIndex > 0) {
      writeFileSync(process.argv[jsonIndex + 1], JSON.stringify({ bench: "nats-collective", rows: [
        { name: "4-rank NATS collective / raw request-reply, p50", value: collectiveFigures.p50 / raw.p50, unit: "x" },
        { name: "4-rank NATS collective / raw request-reply, p99", value: collectiveFigures.p99 / raw.p99, unit: "x" }
      ] }, null, 2))
    }
  } finally {
    for (const echo of echoes) echo.kill("SIGKILL")
    await cluster.dispose()
    await bare.dispose()
    await connection.close()
    server.stop()
  }
}

if (process.argv[2] === "echo") await runEcho(process.argv[3], Number(process.argv[4]))
else await main()

/**
 * Starting rank processes: the ready handshake, start failures, launch modes.
 *
 * Goal: a rank that cannot start is reported with its exit code and what it wrote on stderr; a
 * rank that starts but never says `ready` is given up at `readyTimeoutMs` and killed; when one
 * rank of several fails, the others are killed too; and each way of launching the rank program
 * on this runtime works. Method: start clusters with broken configurations and fixture programs,
 * and check the rejection and that every pid is gone.
 */
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { describe, expect, test } from "vitest"
import { RankStartFailed } from "../../../backends/process/rank-process.ts"
import { type ProcessClusterOptions, startProcessCluster } from "../../../backends/process/cluster.ts"
import { currentRuntime, type LaunchMode } from "../../../backends/process/launch.ts"
import type { WorkerKind } from "../../../backends/process/rank-config.ts"
import { runningPids } from "./pids.ts"

const silentRank = fileURLToPath(new URL("./fixtures/silent-rank.ts", import.meta.url))
const onNode = currentRuntime() === "node"

/** Starts a cluster that must fail; answers the rejection. */
const startFailure = async (options: ProcessClusterOptions): Promise<RankStartFailed> => {
  const outcome = await startProcessCluster(options).then(
    async (cluster) => {
      await cluster.dispose()
      return undefined
    },
    (error: unknown) => error
  )
  if (!(outcome instanceof RankStartFailed)) throw new Error(`expected RankStartFailed, got ${String(outcome)}`)
  return outcome
}

describe("start failures", () => {
  test("a rank whose start configuration is refused is reported with its exit code and stderr", async () => {
    const failure = await startFailure({ worldSize: 2, workerKind: "tpu" as WorkerKind })
    expect(failure).toMatchObject({ _tag: "RankStartFailed", rank: 0, exitCode: 2 })
    expect(failure.stderrTail).toContain("unknown worker kind 'tpu'")
    expect(failure.message).toMatch(/rank 0 did not start: it exited before it was ready \(exit code 2\); stderr: .*unknown worker kind/)
  })

  test("a rank that never says ready is given up at readyTimeoutMs, killed, and its stderr reported", async () => {
    const startedMs = performance.now()
    const failure = await startFailure({ worldSize: 1, entry: silentRank, readyTimeoutMs: 1_500 })
    expect(performance.now() - startedMs).toBeLessThan(10_000)
    expect(failure.reason).toBe("no ready message within 1500 ms")
    expect(failure.signal).toBe("SIGKILL")
    expect(failure.stderrTail).toContain("silent rank: up, but never ready")
  })
})

describe("launch modes", () => {
  // Why a mode does not apply on a runtime; absent where it does.
  const notHere: Readonly<Record<LaunchMode, string | undefined>> = {
    auto: undefined,
    direct: onNode ? "Node 20 cannot run a .ts entry without help" : undefined,
    bundle: onNode ? undefined : "Bun and Deno run the .ts entry directly; bundling is Node's fast path",
    loader: onNode ? undefined : "the tsx loader is Node's; Bun and Deno run the .ts entry directly"
  }
  for (const mode of ["auto", "direct", "bundle", "loader"] as const) {
    const skip = notHere[mode]
    const name = skip === undefined
      ? `launch mode ${mode} starts a rank on ${currentRuntime()} that serves a call and leaves nothing behind`
      : `launch mode ${mode} is skipped on ${currentRuntime()}: ${skip}`
    test.skipIf(skip !== undefined)(name, async () => {
      const cluster = await startProcessCluster({ worldSize: 1, launch: mode })
      const unreachable = await Effect.runPromise(cluster.transport.send({ waveId: 1, call: { method: "load" } }, [0]))
      expect(unreachable).toEqual([])
      expect(cluster.launch.mode).toBe(mode === "auto" ? (onNode ? "bundle" : "direct") : mode)
      await cluster.dispose()
      expect(runningPids(cluster.pids)).toEqual([])
    })
  }
})

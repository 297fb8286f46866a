/**
 * The core executor and engine on real rank processes, under real failures.
 *
 * Goal: what the simulator promises holds when ranks are OS processes: a SIGKILLed rank is seen
 * at once (not at a deadline), a SIGSTOPped rank times out and nothing else, shutdown escalation
 * ends a frozen rank, a partial failure is compensated, and no process is ever left behind.
 * Method: each test starts its own small cluster (tests run concurrently: they mostly wait),
 * hurts a rank with a real signal or an in-rank fault while a call is in flight, and checks the
 * typed answer, the ranks' ground truth and, on the way out, that every pid is gone. Time bounds
 * are generous (seconds) and only prove "resolved long before the deadline".
 */
import { describe, expect, test } from "vitest"
import type { CollectiveResult } from "../../../core/control.ts"
import { errorOf, eventually, sleep, valueOf, withHarness } from "./clusters.ts"
import { runningPids } from "./pids.ts"

const tags = (result: CollectiveResult<unknown, unknown>) => result.outcomes.map((outcome) => outcome._tag)
const request = { requestId: "r1", prompt: "a fox", steps: 2, height: 16, width: 16 }

// Every test owns its cluster, so all of them may run at once; they mostly wait on real time.
describe.concurrent("the process backend under real failures", () => {
  describe.concurrent("SIGKILL of a rank", () => {
    test("during a slow execute fails the batch at once, names the rank Crashed by SIGKILL, and later calls fail fast", () =>
      withHarness({ ranks: 2, faults: [{ rank: 1, method: "execute", kind: "slow", delayMs: 30_000 }] }, async (harness) => {
        const handle = await valueOf(harness, harness.engine.enqueue(request))
        await sleep(200) // let the batch reach the ranks; a kill before that ends the same way
        const killedAtMs = harness.nowMs()
        await valueOf(harness, harness.faults.kill(1))
        const error = await errorOf(harness, handle.result) as { _tag: string; result: CollectiveResult<unknown, unknown> }
        expect(harness.nowMs() - killedAtMs).toBeLessThan(10_000) // the slow rank would take 30 s
        expect(error._tag).toBe("CollectiveRpcError")
        expect(error.result.outcomes[1]).toMatchObject({ _tag: "Crashed", exit: { signal: "SIGKILL" } })
        expect(await errorOf(harness, harness.engine.submit({ ...request, requestId: "r2" }))).toMatchObject({ _tag: "ExecutorDead", deadRanks: [1] })
        expect(await valueOf(harness, harness.engine.state)).toBe("failed")
      }))

    test("during addLora leaves the adapter on the ranks that applied it and says so: ControlFailed, compensation refused by the dead executor", () =>
      withHarness({ ranks: 2, faults: [{ rank: 1, method: "addLora", kind: "slow", delayMs: 30_000 }] }, async (harness) => {
        const adding = errorOf(harness, harness.engine.addLora({ id: 5, name: "ink" }))
        await sleep(300)
        await valueOf(harness, harness.faults.kill(1))
        const error = await adding as {
          _tag: string; result: CollectiveResult<unknown, unknown>
          compensation: { problem?: string }; divergentRanks: ReadonlyArray<number>
        }
        expect(error._tag).toBe("ControlFailed")
        expect(tags(error.result)).toEqual(["Ok", "Crashed"])
        expect(error.compensation.problem).toContain("executor is dead")
        // The engine names the rank whose state it cannot know; the ranks that applied agree.
        expect(error.divergentRanks).toEqual([1])
        const truth = await valueOf(harness, harness.faults.truth())
        expect(truth.map((rank) => [rank.alive, rank.loras])).toEqual([[true, [5]], [false, []]])
      }))

    test("during close (a rank hung in its graceful shutdown) lets close finish closed, with that rank's exit by SIGKILL", () =>
      withHarness({ ranks: 2, faults: [{ rank: 1, method: "shutdown", kind: "hang" }] }, async (harness) => {
        const closing = valueOf(harness, harness.engine.close({ timeoutMs: 9_000 }))
        await sleep(300)
        await valueOf(harness, harness.faults.kill(1))
        const report = await closing
        expect(report.state).toBe("closed")
        expect(report.survivingRanks).toEqual([])
        expect(report.exits.find((exit) => exit.rank === 1)?.exit.signal).toBe("SIGKILL")
        expect(report.exits.filter((exit) => exit.rank !== 1).map((exit) => exit.exit.code)).toEqual([0])
      }))
  })

  describe.concurrent("SIGSTOP of a rank", () => {
    test("during a collective: the call resolves at its deadline with that rank TimedOut; once resumed its late reply is dropped as stale", () =>
      withHarness({ ranks: 2 }, async (harness) => {
        await valueOf(harness, harness.faults.stop(1))
        const result = await valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 1_000 }))
        expect(tags(result)).toEqual(["Ok", "TimedOut"])
        await valueOf(harness, harness.faults.resume(1))
        const stale = async () => (await valueOf(harness, harness.executor.stats)).staleRepliesDropped
        await eventually(async () => (await stale()) >= 1)
        expect(await stale()).toBe(1)
        const healthy = await valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 5_000 }))
        expect(tags(healthy)).toEqual(["Ok", "Ok"])
      }))

    test("during close: SIGTERM cannot reach a stopped rank, the escalation's SIGKILL does, and close reports closed", () =>
      withHarness({ ranks: 2 }, async (harness) => {
        await valueOf(harness, harness.faults.stop(1))
        const report = await valueOf(harness, harness.engine.close({ timeoutMs: 3_000 }))
        expect(report.state).toBe("closed")
        expect(report.exits.find((exit) => exit.rank === 1)?.exit.signal).toBe("SIGKILL")
        expect(report.exits.filter((exit) => exit.rank !== 1).map((exit) => exit.exit.reason)).toEqual(["shutdown"])
      }))

    test("during a close too short to observe the kill: pending-cleanup names the stopped rank, and a second close converges to closed", () =>
      withHarness({ ranks: 2 }, async (harness) => {
        await valueOf(harness, harness.faults.stop(1))
        const first = await valueOf(harness, harness.engine.close({ timeoutMs: 0 }))
        expect(first.state).toBe("pending-cleanup")
        expect(first.survivingRanks).toContain(1)
        const second = await valueOf(harness, harness.engine.close({ timeoutMs: 3_000 }))
        expect(second.state).toBe("closed")
        expect(second.survivingRanks).toEqual([])
        expect(runningPids(harness.cluster.pids)).toEqual([])
      }))
  })

  describe.concurrent("the engine on rank processes", () => {
    test("a rank that throws in addLora leads to compensation: ControlFailed, the adapter removed where it applied, nobody holds it", () =>
      withHarness({ ranks: 3, faults: [{ rank: 1, method: "addLora", kind: "throw", count: 1 }] }, async (harness) => {
        const error = await errorOf(harness, harness.engine.addLora({ id: 9, name: "style" })) as {
          _tag: string; result: CollectiveResult<unknown, unknown>
          compensation: { restoredRanks: ReadonlyArray<number> }; divergentRanks: ReadonlyArray<number>
        }
        expect(error._tag).toBe("ControlFailed")
        expect(tags(error.result)).toEqual(["Ok", "Failed", "Ok"])
        expect(error.compensation.restoredRanks).toEqual([0, 2])
        expect(error.divergentRanks).toEqual([])
        const truth = await valueOf(harness, harness.faults.truth())
        expect(truth.map((rank) => rank.loras)).toEqual([[], [], []])
        expect(truth.every((rank) => rank.answered)).toBe(true)
        expect(await valueOf(harness, harness.engine.state)).toBe("ready")
      }))

    test("a request runs end to end and its output comes from the output rank", () =>
      withHarness({ ranks: 2, outputRank: 1 }, async (harness) => {
        const output = await valueOf(harness, harness.engine.submit(request))
        expect(output.requestId).toBe("r1")
        expect(output.output.primary).toBe("image")
      }))
  })
})

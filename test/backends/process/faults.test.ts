/**
 * Real fault injection in rank processes.
 *
 * Goal: every fault kind the process backend lists happens for real inside a rank process (a
 * hang that only heal or a kill ends, an exit with code 1 before or after applying, a SIGTERM
 * handler that ignores the signal), every kind it does not list is refused with a reason, and
 * ground truth comes from the ranks. Method: small clusters driven through the executor, with
 * faults given at start or injected over IPC at run time.
 */
import { describe, expect, test } from "vitest"
import type { CollectiveResult } from "../../../core/control.ts"
import type { FaultSpec } from "../../../backends/harness.ts"
import { processFaultKinds } from "../../../backends/process/faults.ts"
import { type ProcessClusterHarness, processHarnessFactory } from "../../../backends/process/harness.ts"
import { startProcessCluster } from "../../../backends/process/cluster.ts"
import { faultKinds } from "../../../backends/sim/faults.ts"
import { errorOf, eventually, sleep, valueOf, withHarness } from "./clusters.ts"

const tags = (result: CollectiveResult<unknown, unknown>) => result.outcomes.map((outcome) => outcome._tag)
const health = (harness: ProcessClusterHarness, timeoutMs: number) =>
  valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs }))
const cluster = (ranks: number, faults: ReadonlyArray<FaultSpec> = []) => ({ ranks, seed: 3, faults })

// Every test owns its cluster, so all of them may run at once; they mostly wait on real time.
describe.concurrent("real faults in rank processes", () => {
  describe.concurrent("what the backend can produce", () => {
    test("faultKinds lists every simulator kind except unkillable", () => {
      expect([...processHarnessFactory.faultKinds].sort()).toEqual(faultKinds.filter((kind) => kind !== "unkillable").sort())
      expect(processFaultKinds).toBe(processHarnessFactory.faultKinds)
    })

    test("unkillable is refused at start with the reason, and no process is started", async () => {
      const starting = startProcessCluster({ worldSize: 2, faults: [{ rank: 1, kind: "unkillable" }] })
      await expect(starting).rejects.toMatchObject({ _tag: "UnsupportedFault", kind: "unkillable" })
      await expect(starting).rejects.toThrow(/SIGKILL always ends/)
    })

    test("unkillable is refused at run time too, and a fault for a dead rank is reported undelivered", () =>
      withHarness(cluster(2), async (harness) => {
        expect(await errorOf(harness, harness.faults.inject({ rank: 0, kind: "unkillable" }))).toMatchObject({ _tag: "UnsupportedFault" })
        await valueOf(harness, harness.faults.kill(1))
        expect(await errorOf(harness, harness.faults.inject({ rank: 1, method: "load", kind: "throw" }))).toMatchObject({ _tag: "FaultNotDelivered", rank: 1 })
      }))
  })

  describe.concurrent("hang", () => {
    test("a hung call times out; heal releases it and its late reply is dropped as stale; the rank serves again", () =>
      withHarness(cluster(2), async (harness) => {
        await valueOf(harness, harness.faults.inject({ rank: 0, method: "listLoras", kind: "hang" }))
        const hung = await valueOf(harness, harness.executor.collectiveResult({ method: "listLoras" }, { timeoutMs: 1_000 }))
        expect(tags(hung)).toEqual(["TimedOut", "Ok"])
        await valueOf(harness, harness.faults.heal())
        const stale = async () => (await valueOf(harness, harness.executor.stats)).staleRepliesDropped
        await eventually(async () => (await stale()) >= 1)
        expect(await stale()).toBe(1)
        expect(tags(await health(harness, 5_000))).toEqual(["Ok", "Ok"])
      }))

    test("a hung rank is still killable: the pending call resolves at once with it Crashed", () =>
      withHarness(cluster(2, [{ rank: 1, method: "checkHealth", kind: "hang" }]), async (harness) => {
        const pending = valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 30_000 }))
        await sleep(200)
        await valueOf(harness, harness.faults.kill(1))
        expect(tags(await pending)).toEqual(["Ok", "Crashed"])
      }))
  })

  describe.concurrent("crashes", () => {
    test("crashAfterApply: the rank exits with code 1 having applied; truth (its last report) holds the adapter", () =>
      withHarness(cluster(2, [{ rank: 1, method: "addLora", kind: "crashAfterApply", count: 1 }]), async (harness) => {
        const error = await errorOf(harness, harness.engine.addLora({ id: 4, name: "x" })) as { result: CollectiveResult<unknown, unknown> }
        // Rank 0 answers Ok unless rank 1's exit is seen first: then the executor fails at once and
        // rank 0, still silent, is left indefinite (TimedOut). Which comes first is the OS's race.
        expect(["Ok", "TimedOut"]).toContain(tags(error.result)[0])
        expect(tags(error.result)[1]).toBe("Crashed")
        // The rank exits only once the parent confirmed its note, so reason and last state report hold.
        expect(error.result.outcomes[1]).toMatchObject({ exit: { code: 1, signal: null, reason: "crashed after applying addLora on rank 1 (injected)" } })
        const truth = await valueOf(harness, harness.faults.truth())
        expect(truth[1]).toMatchObject({ alive: false, loras: [4], answered: false })
      }))

    test("crashBeforeApply: the rank exits with code 1 without applying", () =>
      withHarness(cluster(2, [{ rank: 0, method: "addLora", kind: "crashBeforeApply", count: 1 }]), async (harness) => {
        const error = await errorOf(harness, harness.engine.addLora({ id: 4, name: "x" })) as { result: CollectiveResult<unknown, unknown> }
        expect(error.result.outcomes[0]).toMatchObject({ _tag: "Crashed", exit: { code: 1 } })
        expect((await valueOf(harness, harness.faults.truth()))[0]).toMatchObject({ alive: false, loras: [] })
      }))

    test("crashDuringShutdown: the graceful shutdown ends in exit code 1, not a signal", () =>
      withHarness(cluster(2, [{ rank: 1, kind: "crashDuringShutdown" }]), async (harness) => {
        const report = await valueOf(harness, harness.executor.shutdown({ graceMs: 3_000 }))
        expect(report.escalation.terminated).toEqual([])
        expect(report.exits.map((exit) => exit.exit.code)).toEqual([0, 1])
      }))
  })

  describe.concurrent("signals", () => {
    const hang: FaultSpec = { rank: 1, method: "shutdown", kind: "hang" }

    test("without ignoreTerminate, SIGTERM ends a rank hung in its graceful shutdown", () =>
      withHarness(cluster(2, [hang]), async (harness) => {
        const report = await valueOf(harness, harness.executor.shutdown({ graceMs: 500, terminateGraceMs: 3_000, killGraceMs: 3_000 }))
        expect(report.escalation).toEqual({ graceful: [0, 1], terminated: [1], killed: [] })
        expect(report.exits[1].exit.signal).toBe("SIGTERM")
      }))

    test("with ignoreTerminate, SIGTERM does nothing and the escalation's SIGKILL ends the rank", () =>
      withHarness(cluster(2, [hang, { rank: 1, kind: "ignoreTerminate" }]), async (harness) => {
        const report = await valueOf(harness, harness.executor.shutdown({ graceMs: 500, terminateGraceMs: 500, killGraceMs: 3_000 }))
        expect(report.escalation).toEqual({ graceful: [0, 1], terminated: [1], killed: [1] })
        expect(report.exits[1].exit.signal).toBe("SIGKILL")
      }))

    test("ignoreTerminate with a count ignores that many SIGTERMs, then the next one ends the rank", () =>
      withHarness(cluster(1), async (harness) => {
        await valueOf(harness, harness.faults.inject({ rank: 0, kind: "ignoreTerminate", count: 1 }))
        await valueOf(harness, harness.faults.terminate(0))
        await sleep(300)
        expect(harness.cluster.exitOf(0)).toBeNull()
        await valueOf(harness, harness.faults.terminate(0))
        await eventually(() => harness.cluster.exitOf(0) !== null)
        expect(harness.cluster.exitOf(0)).toMatchObject({ signal: "SIGTERM" })
      }))

    test("heal resumes a stopped rank", () =>
      withHarness(cluster(2), async (harness) => {
        await valueOf(harness, harness.faults.stop(1))
        expect(tags(await health(harness, 1_000))).toEqual(["Ok", "TimedOut"])
        await valueOf(harness, harness.faults.heal())
        expect(tags(await health(harness, 5_000))).toEqual(["Ok", "Ok"])
      }))
  })

  describe.concurrent("replies and state", () => {
    test("dropReply loses the reply (TimedOut); duplicateReply repeats it and the repeat is dropped, never delivered", () =>
      withHarness(cluster(2, [
        { rank: 0, method: "checkHealth", kind: "dropReply", count: 1 },
        { rank: 1, method: "listLoras", kind: "duplicateReply", count: 1 }
      ]), async (harness) => {
        expect(tags(await health(harness, 1_000))).toEqual(["TimedOut", "Ok"])
        expect(tags(await valueOf(harness, harness.executor.collectiveResult({ method: "listLoras" }, { timeoutMs: 5_000 })))).toEqual(["Ok", "Ok"])
        // Dropped as a duplicate if it arrives while the wave is pending, as stale once it closed.
        const dropped = async () => {
          const stats = await valueOf(harness, harness.executor.stats)
          return stats.duplicateRepliesDropped + stats.staleRepliesDropped
        }
        await eventually(async () => (await dropped()) >= 1)
        expect(await dropped()).toBe(1)
      }))

    test("oomOnWake: the wake answers OutOfMemory on that rank, which stays asleep and turns unhealthy; the engine puts the others back to sleep", () =>
      withHarness(cluster(2, [{ rank: 0, kind: "oomOnWake", count: 1 }]), async (harness) => {
        await valueOf(harness, harness.engine.sleep(1))
        const error = await errorOf(harness, harness.engine.wakeUp(["weights"])) as { _tag: string; result: CollectiveResult<unknown, unknown> }
        expect(error._tag).toBe("ControlFailed")
        expect(error.result.outcomes[0]).toMatchObject({ _tag: "Failed", error: { _tag: "OutOfMemory" } })
        const truth = await valueOf(harness, harness.faults.truth())
        expect(truth.map((rank) => rank.asleep)).toEqual([true, true])
        const unhealthy = await health(harness, 5_000)
        expect(unhealthy.outcomes[0]).toMatchObject({ _tag: "Failed", error: { _tag: "Unhealthy" } })
      }))
  })
})

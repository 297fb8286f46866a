/**
 * Liveness over a network: heartbeats, silence, fencing, a server that restarts.
 *
 * Goal: with no process to watch, the NATS transport still tells the executor when a rank died
 * (its heartbeats stopped for `silenceMaxMs`), never delivers what a rank declared dead says
 * afterwards, and leaves no call hanging when the server itself goes away. Method: real rank
 * processes through a real nats-server on loopback; local exit reports are off where the test is
 * about what the network alone can tell.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import type { CollectiveResult } from "../../../core/control.ts"
import { describeWithNats, type NatsServer, startNatsServer } from "./nats-server.ts"
import { errorOf, eventually, exitOf, sleep, testLiveness, valueOf, withHarness } from "./clusters.ts"

const tags = (result: CollectiveResult<unknown, unknown>) => result.outcomes.map((outcome) => outcome._tag)
const networkOnly = { observeLocalExits: false } as const
/** Room for scheduling on a busy machine on top of a bound. */
const slackMs = 1_500

describeWithNats("the NATS transport", () => {
  let server: NatsServer
  beforeAll(async () => { server = await startNatsServer() })
  afterAll(async () => { await server?.dispose() })

  describe.concurrent("heartbeats and fencing", () => {
    test("a rank killed mid-request is declared dead by heartbeat loss: the call resolves with it Crashed, the next fails fast with ExecutorDead", () =>
      withHarness(server, { ranks: 3 }, async (harness) => {
        await valueOf(harness, harness.faults.inject({ rank: 1, method: "checkHealth", kind: "hang", count: 1 }))
        const startedMs = performance.now()
        const pending = valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 20_000 }), 25_000)
        await sleep(200)
        harness.cluster.local[1].signal("SIGKILL")
        const result = await pending
        expect(tags(result)).toEqual(["Ok", "Crashed", "Ok"])
        expect(result.outcomes[1]).toMatchObject({ exit: { reason: "heartbeat lost" } })
        expect(performance.now() - startedMs).toBeLessThan(200 + testLiveness.silenceMaxMs + slackMs)
        const laterMs = performance.now()
        expect(await errorOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 5_000 }))).toMatchObject({ _tag: "ExecutorDead", deadRanks: [1] })
        expect(performance.now() - laterMs).toBeLessThan(250)
      }, networkOnly))

    test("a rank declared dead is fenced: its late reply is rejected and counted, never delivered, and it rejoins on standby with a new incarnation", () =>
      withHarness(server, { ranks: 2 }, async (harness) => {
        const nats = harness.cluster.nats
        const before = nats.slot(1)
        expect(before.state).toBe("member")
        // Everything rank 1 says now arrives 2.5 s late: past the silence bound, so it is declared dead.
        await valueOf(harness, harness.faults.delay(1, 2_500))
        const result = await valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 8_000 }))
        expect(tags(result)).toEqual(["Ok", "Crashed"])
        expect(result.outcomes[1]).toMatchObject({ exit: { reason: "heartbeat lost" } })
        expect(await eventually(() => nats.stats().fencedReplies >= 1, 6_000)).toBe(true)
        expect(await eventually(() => { const slot = nats.slot(1); return slot.state === "gone" && slot.standby !== undefined }, 6_000)).toBe(true)
        const after = nats.slot(1)
        if (after.state !== "gone" || before.state !== "member") throw new Error("rank 1 must be gone now, and was a member before")
        expect(after.incarnation).toBe(before.incarnation)
        expect(after.standby).toBeGreaterThan(before.incarnation)
        // The executor never saw the fenced reply: not even as a stale one.
        expect((await valueOf(harness, harness.executor.stats)).staleRepliesDropped).toBe(0)
      }, networkOnly))
  })
})

describeWithNats("a nats-server restart", () => {
  // Each test restarts its own server: they must not share one.
  describe.concurrent("during a collective", () => {
    test("the call resolves by its deadline with typed outcomes; after a short outage the cluster works, or is reported dead", async () => {
      const own = await startNatsServer()
      try {
        await withHarness(own, { ranks: 2 }, async (harness) => {
          await valueOf(harness, harness.faults.inject({ rank: 0, method: "checkHealth", kind: "slow", delayMs: 600, count: 1 }))
          const startedMs = performance.now()
          const pending = exitOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 4_000 }))
          await sleep(100)
          await own.stop()
          await sleep(300)
          await own.start()
          const exit = await pending
          expect(performance.now() - startedMs).toBeLessThan(4_000 + slackMs)
          if (exit._tag === "Success") for (const tag of tags(exit.value)) expect(["Ok", "TimedOut", "Crashed"]).toContain(tag)
          else expect(String(exit.cause)).toMatch(/ExecutorDead/)
          expect(await eventually(async () => {
            const after = await exitOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 1_000 }))
            if (after._tag === "Failure") return String(after.cause).includes("ExecutorDead")
            return tags(after.value).every((tag) => tag === "Ok")
          }, 8_000)).toBe(true)
        })
      } finally {
        await own.dispose()
      }
    })

    test("a long outage: every rank is declared dead, the pending call resolves before its deadline, later calls fail fast with ExecutorDead", async () => {
      const own = await startNatsServer()
      try {
        await withHarness(own, { ranks: 2 }, async (harness) => {
          await valueOf(harness, harness.faults.inject({ rank: 1, method: "checkHealth", kind: "hang", count: 1 }))
          const startedMs = performance.now()
          const pending = valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 10_000 }))
          await sleep(100)
          await own.stop()
          await sleep(testLiveness.silenceMaxMs + 1_000)
          await own.start()
          const result = await pending
          // Resolved by the first death, long before its own deadline; rank 0 may have answered
          // before the server went away, the hung rank is indefinite (Crashed or TimedOut).
          expect(performance.now() - startedMs).toBeLessThan(100 + testLiveness.silenceMaxMs + 1_000 + slackMs)
          for (const tag of tags(result)) expect(["Ok", "Crashed", "TimedOut"]).toContain(tag)
          expect(result.outcomes[1]._tag).not.toBe("Ok")
          expect(await valueOf(harness, harness.executor.exitedRanks)).toEqual([0, 1])
          expect(await errorOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 2_000 }))).toMatchObject({ _tag: "ExecutorDead" })
        })
      } finally {
        await own.dispose()
      }
    })
  })
})

/**
 * The engine's guarantees with ranks over NATS: no silent divergence, a bounded close.
 *
 * Goal: the core's promises hold unchanged when the ranks sit behind a NATS server, under
 * faults only a network has (a rank cut off from the server during close). Method: the
 * unmodified engine over real rank processes through a real nats-server; ground truth read from
 * the ranks themselves.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import type { ControlFailed } from "../../../core/errors.ts"
import { describeWithNats, type NatsServer, startNatsServer } from "./nats-server.ts"
import { errorOf, eventually, sleep, testLiveness, valueOf, withHarness } from "./clusters.ts"
import { pidState } from "../process/pids.ts"

/** Room for scheduling on a busy machine on top of a bound. */
const slackMs = 500

describeWithNats("the engine over NATS ranks", () => {
  let server: NatsServer
  beforeAll(async () => { server = await startNatsServer() })
  afterAll(async () => { await server?.dispose() })

  describe.concurrent("faults", () => {
    test("addLora failing on one rank is compensated: ControlFailed, the adapter gone from every rank, the engine ready", () =>
      withHarness(server, { ranks: 3 }, async (harness) => {
        await valueOf(harness, harness.engine.addLora({ id: 1, name: "kept" }))
        await valueOf(harness, harness.faults.inject({ rank: 1, method: "addLora", kind: "throw", count: 1 }))
        const error = await errorOf(harness, harness.engine.addLora({ id: 7, name: "partial" })) as ControlFailed
        expect(error._tag).toBe("ControlFailed")
        expect(error.result.outcomes.map((outcome) => outcome._tag)).toEqual(["Ok", "Failed", "Ok"])
        expect(error.compensation).toMatchObject({ operation: "removeLora", ranks: [0, 2], unrestoredRanks: [] })
        expect(error.divergentRanks).toEqual([])
        const truth = await valueOf(harness, harness.faults.truth())
        expect(truth.map((rank) => rank.loras)).toEqual([[1], [1], [1]])
        expect(truth.every((rank) => rank.answered)).toBe(true)
        expect(await valueOf(harness, harness.engine.state)).toBe("ready")
      }))

    test("faults given at start are in place before the first call, and a kind the backend cannot produce is refused", async () => {
      await withHarness(server, { ranks: 2, faults: [{ rank: 1, method: "checkHealth", kind: "throw", count: 1 }] }, async (harness) => {
        const result = await valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 5_000 }))
        expect(result.outcomes.map((outcome) => outcome._tag)).toEqual(["Ok", "Failed"])
        expect(await errorOf(harness, harness.faults.inject({ rank: 0, kind: "unkillable" }))).toMatchObject({ _tag: "UnsupportedFault" })
      })
    })

    test("a rank cut off from the server during close: close returns within its bound naming it; a retry converges, and the rank exits when it comes back", () =>
      withHarness(server, { ranks: 3 }, async (harness) => {
        const cutOff = harness.cluster.local[2]
        await valueOf(harness, harness.faults.disconnect(2, 3_000))
        const closeTimeoutMs = 600
        const startedMs = performance.now()
        const first = await valueOf(harness, harness.engine.close({ timeoutMs: closeTimeoutMs }))
        expect(performance.now() - startedMs).toBeLessThan(closeTimeoutMs + slackMs)
        expect(first).toMatchObject({ state: "pending-cleanup", stoppedRanks: [0, 1], survivingRanks: [2] })
        // Past the silence bound the cut-off rank is declared dead; a retry then finds nothing left.
        expect(await eventually(() => harness.cluster.nats.slot(2).state === "gone", testLiveness.silenceMaxMs + 2_000)).toBe(true)
        const retry = await valueOf(harness, harness.engine.close({ timeoutMs: closeTimeoutMs }))
        expect(retry).toMatchObject({ state: "closed", survivingRanks: [], attempts: 2 })
        expect(retry.exits.find((exit) => exit.rank === 2)?.exit.reason).toBe("heartbeat lost")
        // The kill it missed reaches it when it reconnects: the process really ends.
        const exited = await Promise.race([cutOff.exited.then(() => true), sleep(6_000).then(() => false)])
        expect(exited).toBe(true)
        expect(pidState(cutOff.pid)).not.toBe("running")
      }, { observeLocalExits: false }))
  })
})

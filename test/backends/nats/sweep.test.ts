/**
 * Sweeps across hosts: ranges of seeds on a JetStream work queue, run by worker processes.
 *
 * Goal: whatever happens to workers, the coordinator reports every seed exactly once, and its
 * merged report is the one a single-process `runSweep` gives for the same seeds. Method: two
 * `rankwise sweep-worker` processes through a real nats-server (JetStream on); one is killed
 * (SIGKILL) right after it published its first seed, mid-range, so that range is redelivered to
 * the other after the ack wait.
 */
import { afterAll, beforeAll, expect, test } from "vitest"
import { connectDefaults, connectNats } from "../../../backends/nats/connection.ts"
import { runSweepCoordinator, type SweepPlan } from "../../../backends/nats/sweep-farm.ts"
import { runSweep } from "../../../simulator/sweep.ts"
import { describeWithNats, type NatsServer, startNatsServer } from "./nats-server.ts"
import { type CliProcess, startCli } from "./processes.ts"

describeWithNats("a sweep over NATS workers", () => {
  let server: NatsServer
  beforeAll(async () => { server = await startNatsServer() })
  afterAll(async () => { await server?.dispose() })

  test("a worker killed mid-range: its range is redelivered, and every seed is reported exactly once, as runSweep would", async () => {
    const plan: SweepPlan = { baseSeed: 40, seeds: 12, rangeSize: 4, run: { ranks: 3, durationMs: 5_000, faults: { _tag: "swarm" } } }
    const workers: Array<CliProcess> = []
    const connection = await connectNats({ url: server.url, auth: { _tag: "Token", token: server.token } }, { ...connectDefaults, name: "sweep-test" })
    try {
      for (let index = 0; index < 2; index++) workers.push(await startCli(["sweep-worker", "--nats", server.url, "--idle-exit", "20s"], { RANKWISE_NATS_TOKEN: server.token }))
      const victim = workers[0]
      let killedAfterSeed: number | undefined
      const outcome = await runSweepCoordinator(connection, plan, {
        ackWaitMs: 1_500,
        timeLimitMs: 25_000,
        onResult: (result) => {
          if (killedAfterSeed !== undefined || !result.worker.endsWith(`-${victim.pid}`)) return
          killedAfterSeed = result.seed
          victim.kill("SIGKILL")
        }
      })
      expect(killedAfterSeed).toBeDefined()
      // The victim was killed after a seed of the plan, so part of its range was still to run.
      expect(killedAfterSeed).toBeGreaterThanOrEqual(plan.baseSeed)
      expect(killedAfterSeed).toBeLessThan(plan.baseSeed + plan.seeds)
      expect((await victim.exited).signal).toBe("SIGKILL")
      expect(outcome.missingSeeds).toEqual([])
      expect(outcome.results.map((result) => result.seed)).toEqual(Array.from({ length: 12 }, (_, index) => 40 + index))
      // The victim's range was cut short: the rest of it came from the other worker.
      const rangeStart = plan.baseSeed + Math.floor((killedAfterSeed! - plan.baseSeed) / plan.rangeSize) * plan.rangeSize
      const rest = outcome.results.filter((result) => result.seed > killedAfterSeed! && result.seed < rangeStart + plan.rangeSize)
      expect(rest.length).toBeGreaterThan(0)
      expect(rest.some((result) => !result.worker.endsWith(`-${victim.pid}`))).toBe(true)
      // The same seeds in one process: the merged report must not differ in anything it counts.
      const local = runSweep({ ...plan.run, baseSeed: plan.baseSeed, seeds: plan.seeds })
      expect(outcome.report).toEqual(local)
    } finally {
      for (const worker of workers) worker.kill()
      await connection.close()
    }
  }, 40_000)
})

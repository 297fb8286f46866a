/**
 * The conformance suites on the NATS backend, at a tiny budget.
 *
 * Goal: the properties that a wall-clock backend with these fault kinds can meet pass when the
 * ranks sit behind a real nats-server, with the same core and the same drivers as every other
 * backend. Method: `runConformance` with the NATS harness factory, two cases per property, a
 * fixed seed so a failure replays; every case spawns its own rank processes.
 */
import { afterAll, beforeAll, expect, test } from "vitest"
import { natsHarnessFactoryFor } from "../../../backends/nats/harness.ts"
import { runConformance } from "../../../conformance/runner.ts"
import { describeWithNats, type NatsServer, startNatsServer } from "./nats-server.ts"
import { testLiveness } from "./clusters.ts"

/** Properties whose needs the NATS backend meets (no virtual time, no unkillable ranks). */
const properties = ["AGG-1", "AGG-4", "AGG-5", "CONS-2", "SHUT-4"]

describeWithNats("conformance on NATS", () => {
  let server: NatsServer
  beforeAll(async () => { server = await startNatsServer() })
  afterAll(async () => { await server?.dispose() })

  test(`${properties.join(", ")} pass with 2 cases each`, async () => {
    const backend = natsHarnessFactoryFor({ url: server.url, token: server.token, cluster: "conformance", ...testLiveness })
    const report = await runConformance({ backend, numRuns: 2, properties, seed: 20_240_601 })
    const failed = report.properties.filter((property) => property.verdict !== "passed")
    expect(failed.map((property) => `${property.id}: ${property.verdict} ${property.reason ?? ""} ${property.counterexample ?? ""} ${property.replay ?? ""}`)).toEqual([])
    expect(report.properties.map((property) => `${property.id}: ${property.runs} runs`)).toEqual(properties.map((id) => `${id}: 2 runs`))
    expect(report.backend).toBe("nats")
  }, 40_000)
})

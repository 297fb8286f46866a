/**
 * Goal: the conformance runner checks every property on a backend and reports a verdict each: the
 * whole suite passes on the simulator; a property whose needs the backend cannot meet is skipped
 * with the reason, never passed; a failure carries a shrunk counterexample and a replay line that,
 * rerun with its seed and path, fails again the same way; bad options are refused.
 * Method: the simulator backend, wrapper factories that claim less (no virtual time, fewer fault
 * kinds), and mutant policies to make properties fail on purpose. Seeds are fixed so the test
 * replays; the default 25 runs per property stay fast because the simulator runs on virtual time.
 */
import { describe, expect, test } from "vitest"
import type { HarnessFactory } from "../../backends/harness.ts"
import { ConformanceOptionsError, conformanceProperties, numRunsDefault, runConformance } from "../../conformance/index.ts"
import { simHarnessFactory } from "../../simulator/harness.ts"

const wallClockSim: HarnessFactory = { ...simHarnessFactory, name: "sim-wall-clock", virtualTime: false }
const noSignalFaultsSim: HarnessFactory = {
  ...simHarnessFactory,
  name: "sim-no-signals",
  faultKinds: simHarnessFactory.faultKinds.filter((kind) => kind !== "unkillable" && kind !== "ignoreTerminate")
}

/** Reads `--flag value` out of a replay line. */
const flag = (line: string, name: string): string | undefined => {
  const words = line.split(" ")
  const at = words.indexOf(`--${name}`)
  return at < 0 ? undefined : words[at + 1]
}

describe("runConformance", () => {
  test("every property passes on the simulator with the default number of runs", async () => {
    const report = await runConformance({ backend: simHarnessFactory, seed: 20_240_601 })
    const failures = report.properties.filter((property) => property.verdict !== "passed")
    expect(failures).toEqual([])
    expect(report.properties.map((property) => property.id)).toEqual(conformanceProperties.map((property) => property.id))
    expect(report.totals).toEqual({ passed: conformanceProperties.length, failed: 0, skipped: 0 })
    for (const property of report.properties) expect(property.runs).toBe(numRunsDefault)
  })

  test("property ids are unique and each states its contract on one line", () => {
    const ids = conformanceProperties.map((property) => property.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const property of conformanceProperties) {
      expect(property.id).toMatch(/^(AGG|CONS|SHUT|API|OUT|DET)-\d+$/)
      expect(property.statement).not.toContain("\n")
    }
  })

  test("a property that needs virtual time is skipped with the reason on a wall-clock backend", async () => {
    const report = await runConformance({ backend: wallClockSim, properties: ["DET-1", "AGG-1"], numRuns: 3, seed: 1 })
    const [determinism, aggregation] = report.properties
    expect(determinism.verdict).toBe("skipped")
    expect(determinism.runs).toBe(0)
    expect(determinism.reason).toMatch(/virtual time/)
    expect(aggregation.verdict).toBe("passed")
    expect(report.totals).toEqual({ passed: 1, failed: 0, skipped: 1 })
  })

  test("a property that needs a fault kind the backend lacks is skipped and names the kind", async () => {
    const report = await runConformance({ backend: noSignalFaultsSim, properties: ["SHUT-1", "SHUT-2", "SHUT-3"], numRuns: 3, seed: 1 })
    expect(report.properties.map((property) => property.verdict)).toEqual(["skipped", "skipped", "passed"])
    expect(report.properties[0].reason).toMatch(/ignoreTerminate, unkillable/)
  })

  test("a failure carries a counterexample and a replay line that fails again when rerun", async () => {
    const policy = { compensation: "off" } as const
    const first = (await runConformance({ backend: simHarnessFactory, properties: ["CONS-2"], numRuns: 20, seed: 5, policy })).properties[0]
    expect(first.verdict).toBe("failed")
    expect(first.counterexample).toContain("failingRank")
    expect(first.replay).toMatch(/^rankwise check --backend sim --property CONS-2 --seed \d+ --path \S+/)
    const seed = Number(flag(first.replay!, "seed"))
    const path = flag(first.replay!, "path")
    const again = (await runConformance({ backend: simHarnessFactory, properties: ["CONS-2"], seed, path, policy })).properties[0]
    expect(again.verdict).toBe("failed")
    expect(again.counterexample).toBe(first.counterexample)
    expect(again.reason).toBe(first.reason)
  })

  test("a model-based failure replays from its seed, path and commands path", async () => {
    const policy = { sleepErrors: "acknowledged" } as const
    const first = (await runConformance({ backend: simHarnessFactory, properties: ["CONS-1"], numRuns: 100, seed: 3, policy })).properties[0]
    expect(first.verdict).toBe("failed")
    const commandsPath = flag(first.replay!, "commands-path")
    expect(commandsPath).toBeDefined()
    expect(commandsPath).toMatch(/\S/)
    const again = (await runConformance({
      backend: simHarnessFactory, properties: ["CONS-1"], seed: Number(flag(first.replay!, "seed")), path: flag(first.replay!, "path"), commandsPath, policy
    })).properties[0]
    expect(again.verdict).toBe("failed")
    expect(again.counterexample).toBe(first.counterexample)
  })

  test("a time limit stops the run early and says so, without failing", async () => {
    const report = await runConformance({ backend: simHarnessFactory, properties: ["CONS-1"], numRuns: 100_000, timeLimitMs: 200, seed: 9 })
    const [property] = report.properties
    expect(property.verdict).toBe("passed")
    expect(property.runs).toBeLessThan(100_000)
    expect(property.reason).toMatch(/time limit reached after \d+ of 100000 runs/)
  })

  test("an unknown property, or a replay without its seed, is refused", async () => {
    await expect(runConformance({ backend: simHarnessFactory, properties: ["AGG-99"] })).rejects.toBeInstanceOf(ConformanceOptionsError)
    await expect(runConformance({ backend: simHarnessFactory, properties: ["AGG-1"], path: "0:1" })).rejects.toBeInstanceOf(ConformanceOptionsError)
  })

  test("progress events announce each property and its report", async () => {
    const events: Array<string> = []
    await runConformance({ backend: simHarnessFactory, properties: ["OUT-1", "OUT-2"], numRuns: 2, seed: 1, onProgress: (event) => {
      events.push(event._tag === "PropertyStarted" ? `start ${event.id}` : `done ${event.report.id} ${event.report.verdict}`)
    } })
    expect(events).toEqual(["start OUT-1", "done OUT-1 passed", "start OUT-2", "done OUT-2 passed"])
  })
})

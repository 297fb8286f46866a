/**
 * The example scenarios on real rank processes: the scenario runner with `--backend process`.
 *
 * Goal: a driver written once against the harness contract runs unchanged on OS processes, and
 * the scenarios' stated expectations (typed answers, per-rank outcomes, ground truth at the end)
 * hold there too. A scenario that asks for a fault this backend cannot produce is refused at
 * start with the reason, never run with the fault silently missing. Method: run every file in
 * test/scenarios through `runScenario(scenario, processHarnessFactory)` and compare.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Result } from "effect"
import { describe, expect, test } from "vitest"
import type { HarnessFactory } from "../../../backends/harness.ts"
import { type ProcessClusterHarness, processHarnessFactory } from "../../../backends/process/harness.ts"
import { harnessFactoryFor } from "../../../cli/backends.ts"
import { simHarnessFactory } from "../../../simulator/harness.ts"
import { decodeScenario, type Scenario } from "../../../simulator/scenario/format.ts"
import { runScenario, type ScenarioReport } from "../../../simulator/scenario/run.ts"
import { waitUntilGone } from "./pids.ts"

const folder = fileURLToPath(new URL("../../scenarios/", import.meta.url))
const files = readdirSync(folder).filter((name) => name.endsWith(".json")).sort()

const load = (name: string): Scenario => {
  const decoded = decodeScenario(JSON.parse(readFileSync(`${folder}${name}`, "utf8")))
  if (Result.isFailure(decoded)) throw new Error(decoded.failure.message)
  return decoded.success
}

/** Every fault kind a scenario asks for, at start or in an inject step. */
const kindsOf = (scenario: Scenario): ReadonlyArray<string> => [
  ...(scenario.faults ?? []).map((fault) => fault.kind),
  ...scenario.steps.flatMap((step) => (step.op === "inject" ? [step.fault.kind] : []))
]
const supported = (scenario: Scenario) => kindsOf(scenario).every((kind) => processHarnessFactory.faultKinds.includes(kind))

/**
 * Runs a scenario on rank processes, then checks that the runner's dispose left no process: the
 * factory keeps a hand on the harness it started.
 */
const runOnProcesses = async (scenario: Scenario): Promise<ScenarioReport> => {
  const harnesses: Array<ProcessClusterHarness> = []
  const backend: HarnessFactory = {
    ...processHarnessFactory,
    start: async (options) => {
      const harness = await processHarnessFactory.start(options)
      harnesses.push(harness)
      return harness
    }
  }
  const report = await runScenario(scenario, backend)
  for (const harness of harnesses) expect(await waitUntilGone(harness.cluster.pids, 3_000)).toEqual([])
  return report
}

describe.concurrent("example scenarios on rank processes", () => {
  for (const name of files) {
    const scenario = load(name)
    if (supported(scenario)) {
      test(`${name} meets every expectation it states`, async () => {
        const report = await runOnProcesses(scenario)
        expect(report.expectations?.checked ?? 0).toBeGreaterThan(0)
        expect(report.expectations?.mismatches).toEqual([])
      })
    } else {
      const missing = kindsOf(scenario).filter((kind) => !processHarnessFactory.faultKinds.includes(kind))
      test(`${name} asks for ${missing.join(", ")}, which rank processes cannot produce: refused at start with the reason`, async () => {
        const report = await runOnProcesses(scenario)
        expect(report.steps).toHaveLength(1)
        expect(report.steps[0]).toMatchObject({ op: "start", ok: false, error: { _tag: "StartFailed" } })
        expect(report.steps[0].error?.message).toContain(`cannot produce fault '${missing[0]}'`)
      })
    }
  }
})

describe("--backend", () => {
  test("names the simulator and the process backend, refuses other names listing the known ones, and nats without a URL", () => {
    expect(harnessFactoryFor("process")).toBe(processHarnessFactory)
    expect(harnessFactoryFor("sim")).toBe(simHarnessFactory)
    expect(harnessFactoryFor("tpu")).toEqual({ usage: "unknown backend 'tpu' (known: sim, process, onnx, nats)" })
    expect(harnessFactoryFor("nats")).toEqual({ usage: "--backend nats needs --nats URL (and optionally --cluster ID)" })
  })
})

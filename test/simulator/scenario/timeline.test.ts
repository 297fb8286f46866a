/**
 * Goal: a scenario run becomes a timeline a person can read: engine operations as spans in step
 * order, signals on the rank they hit, each rank's outcome where the step ended, and who is alive
 * at the end; a run that never started draws nothing. Method: the SIGKILL scenario on the
 * simulator backend (virtual time, so the times are exact), then a synthetic start failure.
 */
import { describe, expect, test } from "vitest"
import { realFaultScenarios } from "../../../conformance/real-faults.ts"
import { simHarnessFactory } from "../../../simulator/harness.ts"
import { runScenario } from "../../../simulator/scenario/run.ts"
import { scenarioTimeline } from "../../../simulator/scenario/timeline.ts"

describe("scenario timelines", () => {
  test("the SIGKILL scenario draws its steps, the held request across the kill on rank 1, every rank's outcome, and the exits", async () => {
    const scenario = realFaultScenarios.find((candidate) => candidate.name === "sigkill-mid-request")!.scenario
    const report = await runScenario(scenario, simHarnessFactory)
    const events = scenarioTimeline(scenario, report)
    // Virtual time: the kill lands after the 300 ms advance, and the crash ends the held request at once.
    expect(events.map(({ track, name, atMs, durationMs, args }) => ({ track, name, atMs, durationMs, args }))).toEqual([
      { track: "engine", name: "submit held", atMs: 0, durationMs: 0, args: { ok: true } },
      { track: { rank: 1 }, name: "SIGKILL", atMs: 300, durationMs: undefined, args: undefined },
      { track: "engine", name: "await held", atMs: 300, durationMs: 0, args: { ok: false, error: "CollectiveRpcError" } },
      { track: { rank: 0 }, name: "await: Ok", atMs: 300, durationMs: undefined, args: { ok: true, outcome: "Ok" } },
      { track: { rank: 1 }, name: "await: Crashed", atMs: 300, durationMs: undefined, args: { ok: false, outcome: "Crashed" } },
      { track: { rank: 2 }, name: "await: Ok", atMs: 300, durationMs: undefined, args: { ok: true, outcome: "Ok" } },
      { track: "engine", name: "request held", atMs: 0, durationMs: 300, args: { ok: false, error: "CollectiveRpcError" } },
      { track: "engine", name: "submit after", atMs: 300, durationMs: 0, args: { ok: false, error: "ExecutorDead" } },
      { track: "engine", name: "close", atMs: 300, durationMs: 0, args: { ok: true } },
      { track: { rank: 0 }, name: "exited", atMs: 300, durationMs: undefined, args: undefined },
      { track: { rank: 1 }, name: "exited", atMs: 300, durationMs: undefined, args: undefined },
      { track: { rank: 2 }, name: "exited", atMs: 300, durationMs: undefined, args: undefined }
    ])
  })

  test("a run that never started draws nothing", () => {
    const scenario = realFaultScenarios[0].scenario
    const report = { seed: 0, steps: [{ op: "start", ok: false, error: { _tag: "StartFailed", message: "no" }, startedMs: 0, atMs: 0 }], final: { engineState: "failed", ranks: [] } }
    expect(scenarioTimeline(scenario, report)).toEqual([])
  })
})

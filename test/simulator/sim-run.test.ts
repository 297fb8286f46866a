/**
 * Seeded simulation runs of the real core: a sweep finds no violation, the same seed gives the
 * same trace on every runtime, a failing run replays exactly, and a broken core is caught.
 * Method: short virtual durations keep each seed to milliseconds of wall time; the broken core is
 * a conformance mutant policy (a partially applied control operation is never undone).
 */
import { describe, expect, test } from "vitest"
import { runSimulation } from "../../simulator/sim-run.ts"
import { runSweep } from "../../simulator/sweep.ts"

describe("simulated runs", () => {
  test("a sweep of a hundred swarm seeds over 1-6 ranks finds no invariant violation in the real core", () => {
    const failures: Array<string> = []
    for (let ranks = 1; ranks <= 6; ranks++) {
      const report = runSweep({ baseSeed: 1000 * ranks, seeds: 17, ranks, durationMs: 3_000, faults: { _tag: "swarm" } })
      for (const failure of report.failures) failures.push(`${failure.violation?.invariant}: ${failure.replay}`)
    }
    expect(failures).toEqual([])
  })

  test("the same seed gives the same trace hash, and this seed's hash is the same on every runtime", () => {
    const first = runSimulation({ seed: 424242, ranks: 4, durationMs: 2_000, faults: { _tag: "swarm" } })
    const second = runSimulation({ seed: 424242, ranks: 4, durationMs: 2_000, faults: { _tag: "swarm" } })
    expect(second.traceHash).toBe(first.traceHash)
    expect(runSimulation({ seed: 424243, ranks: 4, durationMs: 2_000, faults: { _tag: "swarm" } }).traceHash).not.toBe(first.traceHash)
    // Golden: computed on Node; Bun and Deno must agree (the suite runs on all three).
    expect(first.traceHash).toBe(GOLDEN_HASH)
  })

  test("a core that skips compensation is caught as a safety violation, and rerunning the same options fails identically", () => {
    const options = { ranks: 3, durationMs: 2_000, faults: { _tag: "kinds", kinds: ["throw"] } as const, policy: { compensation: "off" } as const }
    let failing: ReturnType<typeof runSimulation> | undefined
    for (let seed = 1; seed <= 40 && failing === undefined; seed++) {
      const result = runSimulation({ ...options, seed })
      if (result.status !== "ok") failing = result
    }
    expect(failing?.status).toBe("safety")
    expect(failing?.violation?.invariant).toBe("partial-failure-compensated")
    expect(failing?.replay).toContain(`--seed ${failing?.seed}`)
    const again = runSimulation({ ...options, seed: failing!.seed })
    expect(again.violation).toEqual(failing!.violation)
    expect(again.traceHash).toBe(failing!.traceHash)
  })

  test("sweep coverage counts fault points by method and phase, and names required paths that were not reached", () => {
    const report = runSweep({
      baseSeed: 7, seeds: 12, ranks: 3, durationMs: 2_000, faults: { _tag: "kinds", kinds: ["throw"] },
      requirePaths: ["compensation-succeeded", "no-such-path"]
    })
    expect(report.coverage.some((row) => row.point === "call.throw" && row.phase === "safety" && row.fired >= row.seeds)).toBe(true)
    expect(report.coverage.every((row) => row.point !== "call.hang")).toBe(true)
    expect(report.missingPaths).toEqual(["no-such-path"])
  })
})

const GOLDEN_HASH = "af965d597df3c2b1"

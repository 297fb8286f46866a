/**
 * The example scenarios under test/scenarios are documentation and tests at once: each states
 * what its steps must produce (`expect`) and the ground truth it must end in (`expectFinal`).
 * This file runs every one on the simulator and requires that it states expectations and meets
 * them all. It also checks that malformed scenarios are refused with the field named, and that a
 * run replays exactly from its seed.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Result } from "effect"
import { describe, expect, test } from "vitest"
import { simHarnessFactory } from "../../../simulator/harness.ts"
import { decodeScenario } from "../../../simulator/scenario/format.ts"
import { runScenario } from "../../../simulator/scenario/run.ts"

const folder = fileURLToPath(new URL("../../scenarios/", import.meta.url))
const files = readdirSync(folder).filter((name) => name.endsWith(".json")).sort()
const load = (name: string): unknown => JSON.parse(readFileSync(`${folder}${name}`, "utf8"))

describe("example scenarios", () => {
  test("there are example scenarios to run", () => {
    expect(files.length).toBeGreaterThanOrEqual(5)
  })

  for (const name of files) {
    test(`${name} meets every expectation it states`, async () => {
      const scenario = decodeScenario(load(name))
      if (Result.isFailure(scenario)) throw new Error(scenario.failure.message)
      const report = await runScenario(scenario.success, simHarnessFactory)
      expect(report.expectations?.checked ?? 0).toBeGreaterThan(0)
      expect(report.expectations?.mismatches).toEqual([])
    })
  }

  test("the same scenario and seed give the same report", async () => {
    const scenario = decodeScenario(load("lora-partial-failure.json"))
    if (Result.isFailure(scenario)) throw new Error(scenario.failure.message)
    const first = await runScenario(scenario.success, simHarnessFactory)
    const second = await runScenario(scenario.success, simHarnessFactory)
    expect(JSON.stringify(second)).toEqual(JSON.stringify(first))
  })
})

describe("malformed scenarios", () => {
  const base = { ranks: 2, steps: [{ op: "listLoras" }] }
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["not an object", 42, "(scenario)"],
    ["ranks missing", { steps: [] }, "ranks"],
    ["too many ranks", { ...base, ranks: 65 }, "ranks"],
    ["unknown step op", { ...base, steps: [{ op: "reboot" }] }, "steps.0"],
    ["bad sleep level", { ...base, steps: [{ op: "sleep", level: 3 }] }, "steps.0.level"],
    ["fault on a missing rank", { ...base, faults: [{ rank: 5, method: "addLora", kind: "throw" }] }, "faults.0.rank"],
    ["call fault without a method", { ...base, faults: [{ rank: 0, kind: "hang" }] }, "faults.0.method"],
    ["unknown fault kind", { ...base, faults: [{ rank: 0, method: "addLora", kind: "explode" }] }, "faults.0.kind"],
    ["kill of a missing rank", { ...base, steps: [{ op: "kill", rank: 9 }] }, "steps.0.rank"],
    ["unknown top-level key", { ...base, rank: 3 }, "rank"]
  ]
  for (const [title, input, field] of cases) {
    test(`${title} is refused, naming ${field}`, () => {
      const decoded = decodeScenario(input)
      expect(Result.isFailure(decoded) && decoded.failure.field).toBe(field)
    })
  }
})

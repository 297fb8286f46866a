/**
 * Goal: a property's needs decide whether a backend can run it, and the reason names what is
 * missing (virtual time, fault kinds), so a skip is never silent.
 * Method: `unmetNeeds` over hand-built properties and factories.
 */
import { describe, expect, test } from "vitest"
import type { HarnessFactory } from "../../backends/harness.ts"
import { type ConformanceProperty, unmetNeeds } from "../../conformance/property.ts"

const factory = (virtualTime: boolean, faultKinds: Array<string>): HarnessFactory =>
  ({ name: "test-backend", virtualTime, faultKinds, start: () => Promise.reject(new Error("not started in this test")) })
const property = (needs: ConformanceProperty["needs"]): ConformanceProperty =>
  ({ id: "X-1", statement: "s", needs, run: () => { throw new Error("not run in this test") } })

describe("unmetNeeds", () => {
  test("a property without needs runs anywhere", () => {
    expect(unmetNeeds(property(undefined), factory(false, []))).toBeUndefined()
  })

  test("virtual time is needed from a backend that has it", () => {
    expect(unmetNeeds(property({ virtualTime: true }), factory(true, []))).toBeUndefined()
    expect(unmetNeeds(property({ virtualTime: true }), factory(false, []))).toMatch(/needs virtual time.*test-backend runs on the wall clock/)
  })

  test("every missing fault kind is named", () => {
    expect(unmetNeeds(property({ faultKinds: ["throw", "hang", "slow"] }), factory(true, ["throw"]))).toBe(
      "needs fault kinds hang, slow, which backend test-backend cannot produce")
  })
})

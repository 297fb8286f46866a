/**
 * Goal: the mutant catalogue is well formed: at least twelve mutants with unique ids, each
 * expecting killers that exist, and together they flip every field of CorePolicy to a broken
 * value (a field no mutant flips is a decision the suites were never shown to guard).
 * Method: plain checks over the catalogue data and `correctPolicy`.
 */
import { describe, expect, test } from "vitest"
import { correctPolicy } from "../../../core/policy.ts"
import { conformanceProperties, mutantCatalogue } from "../../../conformance/index.ts"

describe("mutant catalogue", () => {
  test("holds at least twelve mutants with unique ids and known expected killers", () => {
    expect(mutantCatalogue.length).toBeGreaterThanOrEqual(12)
    const ids = mutantCatalogue.map((mutant) => mutant.id)
    expect(new Set(ids).size).toBe(ids.length)
    const known = new Set(conformanceProperties.map((property) => property.id))
    for (const mutant of mutantCatalogue) {
      expect(mutant.expectedKillers.length).toBeGreaterThan(0)
      for (const id of mutant.expectedKillers) expect(known.has(id)).toBe(true)
    }
  })

  test("flips every field of CorePolicy, each to a value other than the correct one", () => {
    const flipped = new Set(mutantCatalogue.flatMap((mutant) => Object.keys(mutant.policy)))
    expect([...flipped].sort()).toEqual(Object.keys(correctPolicy).sort())
    for (const mutant of mutantCatalogue) {
      for (const [field, value] of Object.entries(mutant.policy)) expect(value).not.toBe(correctPolicy[field as keyof typeof correctPolicy])
    }
  })
})

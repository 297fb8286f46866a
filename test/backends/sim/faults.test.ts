/**
 * Goal: the fault plan decodes from JSON with errors that name the field, and the fault book
 * fires each fault exactly as often as its count allows, on the rank and method it names.
 * Method: example tests for each decoding rule; fast-check properties that replay random call
 * sequences against a counter kept beside the book.
 */
import { fc, test } from "@fast-check/vitest"
import { Result } from "effect"
import { describe, expect } from "vitest"
import { workerMethods, type WorkerMethod } from "../../../core/worker.ts"
import { callFaultKinds, checkFaultSpec, decodeFaultSpec, makeFaultBook, type FaultSpec } from "../../../backends/sim/faults.ts"

const fieldOf = (input: unknown): string => {
  const decoded = decodeFaultSpec(input)
  return Result.isFailure(decoded) ? decoded.failure.field : "(decoded)"
}

describe("FaultSpecSchema", () => {
  test("every well-formed spec decodes to itself", () => {
    const specs: ReadonlyArray<FaultSpec> = [
      { rank: 0, method: "addLora", kind: "throw" },
      { rank: 1, method: "sleep", kind: "hang", count: 2 },
      { rank: 2, method: "execute", kind: "slow", delayMs: 50 },
      { rank: 0, method: "wakeUp", kind: "crashBeforeApply" },
      { rank: 0, method: "shutdown", kind: "crashAfterApply", count: 1 },
      { rank: 3, kind: "ignoreTerminate" },
      { rank: 3, kind: "unkillable" }
    ]
    for (const spec of specs) expect(Result.getOrThrow(decodeFaultSpec(spec))).toEqual(spec)
  })

  test("a refused spec names the field that broke the rule", () => {
    expect(fieldOf({ rank: -1, method: "load", kind: "throw" })).toBe("rank")
    expect(fieldOf({ rank: 0, method: "teleport", kind: "throw" })).toBe("method")
    expect(fieldOf({ rank: 0, method: "load", kind: "explode" })).toBe("kind")
    expect(fieldOf({ rank: 0, method: "load", kind: "throw", count: 0 })).toBe("count")
    expect(fieldOf({ rank: 0, kind: "throw" })).toBe("method")
    expect(fieldOf({ rank: 0, method: "load", kind: "unkillable" })).toBe("method")
    expect(fieldOf({ rank: 0, method: "load", kind: "slow" })).toBe("delayMs")
    expect(fieldOf({ rank: 0, method: "load", kind: "hang", delayMs: 3 })).toBe("delayMs")
    expect(fieldOf({ rank: 0, method: "load", kind: "hang", after: 3 })).toBe("after")
  })

  test("checkFaultSpec refuses a rank outside the world and accepts one inside", () => {
    expect(checkFaultSpec({ rank: 4, method: "load", kind: "throw" }, 4)?.field).toBe("rank")
    expect(checkFaultSpec({ rank: 3, method: "load", kind: "throw" }, 4)).toBeUndefined()
  })
})

const callSpec = fc.record({
  rank: fc.integer({ min: 0, max: 2 }),
  method: fc.constantFrom(...workerMethods),
  kind: fc.constantFrom(...callFaultKinds.filter((kind) => kind !== "slow")),
  count: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined })
})
const calls = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom(...workerMethods)), { maxLength: 40 })

describe("FaultBook", () => {
  test.prop([callSpec, calls])("a call fault fires only on its rank and method, at most count times", (spec, sequence) => {
    const book = makeFaultBook(3, [spec])
    let fired = 0
    for (const [rank, method] of sequence) {
      const fault = book.take(rank, method as WorkerMethod)
      const matches = rank === spec.rank && method === spec.method
      const expected = matches && fired < (spec.count ?? Number.POSITIVE_INFINITY)
      expect(fault?.kind).toBe(expected ? spec.kind : undefined)
      if (fault) fired++
    }
    const counted = book.counts().find((count) => count.rank === spec.rank && count.method === spec.method)
    expect(counted?.fired ?? 0).toBe(fired)
  })

  test.prop([fc.array(callSpec, { maxLength: 6 }), calls])("heal clears every active fault and keeps the counts", (specs, sequence) => {
    const book = makeFaultBook(3, specs)
    for (const [rank, method] of sequence) book.take(rank, method as WorkerMethod)
    const before = book.counts()
    book.heal()
    for (const [rank, method] of sequence) expect(book.take(rank, method as WorkerMethod)).toBeUndefined()
    expect(book.counts()).toEqual(before)
  })

  test("terminate is resisted by ignoreTerminate and unkillable, kill only by unkillable", () => {
    const book = makeFaultBook(2, [{ rank: 0, kind: "ignoreTerminate" }, { rank: 1, kind: "unkillable", count: 2 }])
    expect(book.ignoresTerminate(0)).toBe(true)
    expect(book.isUnkillable(0)).toBe(false)
    expect(book.resist(0, "terminate")).toBe("ignoreTerminate")
    expect(book.resist(0, "kill")).toBeUndefined()
    expect(book.resist(1, "kill")).toBe("unkillable")
    expect(book.resist(1, "terminate")).toBe("unkillable")
    expect(book.resist(1, "kill")).toBeUndefined()
    expect(book.counts()).toEqual([
      { rank: 0, method: null, kind: "ignoreTerminate", fired: 1 },
      { rank: 1, method: null, kind: "unkillable", fired: 2 }
    ])
  })

  test("a slow fault hands out its delay", () => {
    const book = makeFaultBook(1, [{ rank: 0, method: "execute", kind: "slow", delayMs: 25 }])
    expect(book.take(0, "execute")).toEqual({ kind: "slow", delayMs: 25 })
  })
})

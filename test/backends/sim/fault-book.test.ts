/**
 * Goal: the fault book fires each counted fault exactly as often as its count allows, on the
 * rank and method it names; rules fire only where they match, with certainty at probability 1
 * and never at 0; a counted fault takes precedence over a rule; `stopInjecting` ends the rules
 * and keeps the counted faults; `heal` ends both; and one seed replays the same firings.
 * Method: fast-check properties that replay random call sequences against a counter kept beside
 * the book, and examples for precedence and signals.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { makeStream } from "../../../core/random.ts"
import { workerMethods, type WorkerMethod } from "../../../core/worker.ts"
import { makeFaultBook } from "../../../backends/sim/fault-book.ts"
import { callFaultKinds, type FaultRule, methodBoundFaultKinds } from "../../../backends/sim/faults.ts"

/** Call kinds that take any method and need no delay. */
const anyMethodKinds = callFaultKinds.filter((kind) => kind !== "slow" && methodBoundFaultKinds[kind] === undefined)

const callSpec = fc.record({
  rank: fc.integer({ min: 0, max: 2 }),
  method: fc.constantFrom(...workerMethods),
  kind: fc.constantFrom(...anyMethodKinds),
  count: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined })
})
const calls = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom(...workerMethods)), { maxLength: 40 })

const ruleArbitrary: fc.Arbitrary<FaultRule> = fc.record({
  kind: fc.constantFrom(...anyMethodKinds),
  method: fc.option(fc.constantFrom(...workerMethods), { nil: undefined }),
  ranks: fc.option(fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1 }), { nil: undefined }),
  probability: fc.constantFrom(0, 0.25, 0.5, 1)
})

const matches = (rule: FaultRule, rank: number, method: WorkerMethod) =>
  (rule.ranks === undefined || rule.ranks.includes(rank)) && (rule.method === undefined || rule.method === method)

describe("counted faults", () => {
  test.prop([callSpec, calls])("a call fault fires only on its rank and method, at most count times", (spec, sequence) => {
    const book = makeFaultBook(3, [spec])
    let fired = 0
    for (const [rank, method] of sequence) {
      const fault = book.take(rank, method)
      const matching = rank === spec.rank && method === spec.method
      const expected = matching && fired < (spec.count ?? Number.POSITIVE_INFINITY)
      expect(fault?.kind).toBe(expected ? spec.kind : undefined)
      if (fault) fired++
    }
    const counted = book.counts().find((count) => count.rank === spec.rank && count.method === spec.method)
    expect(counted?.fired ?? 0).toBe(fired)
  })

  test.prop([fc.array(callSpec, { maxLength: 6 }), fc.array(ruleArbitrary, { maxLength: 3 }), calls])(
    "heal clears every counted fault and rule, and keeps the counts",
    (specs, rules, sequence) => {
      const book = makeFaultBook(3, specs, { rules })
      for (const [rank, method] of sequence) book.take(rank, method)
      const before = book.counts()
      book.heal()
      for (const [rank, method] of sequence) expect(book.take(rank, method)).toBeUndefined()
      expect(book.counts()).toEqual(before)
    })

  test("a method-bound kind without a method fires on its own method only", () => {
    const book = makeFaultBook(1, [{ rank: 0, kind: "oomOnWake" }, { rank: 0, kind: "crashDuringShutdown" }])
    for (const method of workerMethods.filter((name) => name !== "wakeUp" && name !== "shutdown")) {
      expect(book.take(0, method)).toBeUndefined()
    }
    expect(book.take(0, "wakeUp")?.kind).toBe("oomOnWake")
    expect(book.take(0, "shutdown")?.kind).toBe("crashDuringShutdown")
    expect(book.counts()).toEqual([
      { rank: 0, method: "shutdown", kind: "crashDuringShutdown", fired: 1 },
      { rank: 0, method: "wakeUp", kind: "oomOnWake", fired: 1 }
    ])
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

describe("rules", () => {
  test.prop([ruleArbitrary, calls, fc.nat()])(
    "a rule fires only on matching calls: always at probability 1, never at 0",
    (rule, sequence, seed) => {
      const book = makeFaultBook(3, [], { rules: [rule], random: makeStream(seed, "faults") })
      for (const [rank, method] of sequence) {
        const fault = book.take(rank, method)
        if (!matches(rule, rank, method) || rule.probability === 0) expect(fault).toBeUndefined()
        if (matches(rule, rank, method) && rule.probability === 1) expect(fault?.kind).toBe(rule.kind)
        if (fault !== undefined) expect(fault.kind).toBe(rule.kind)
      }
    })

  test.prop([fc.array(callSpec, { maxLength: 3 }), fc.array(ruleArbitrary, { maxLength: 4 }), calls, fc.nat()])(
    "one seed replays the same firings",
    (specs, rules, sequence, seed) => {
      const firings = () => {
        const book = makeFaultBook(3, specs, { rules, random: makeStream(seed, "faults") })
        return sequence.map(([rank, method]) => book.take(rank, method)?.kind ?? null)
      }
      expect(firings()).toEqual(firings())
    })

  test("a counted fault takes precedence over a rule, and stopInjecting ends only the rules", () => {
    const book = makeFaultBook(2, [{ rank: 0, method: "execute", kind: "throw", count: 2 }], {
      rules: [{ kind: "dropReply", probability: 1 }]
    })
    expect(book.take(0, "execute")?.kind).toBe("throw")
    expect(book.take(1, "execute")?.kind).toBe("dropReply")
    book.stopInjecting()
    expect(book.rules()).toEqual([])
    expect(book.take(1, "execute")).toBeUndefined()
    expect(book.take(0, "execute")?.kind).toBe("throw")
    expect(book.take(0, "execute")).toBeUndefined()
    book.addRule({ kind: "hang", ranks: [1], method: "load", probability: 1 })
    expect(book.take(1, "load")?.kind).toBe("hang")
    expect(book.take(0, "load")).toBeUndefined()
  })

  test("signal rules resist as their kind does: unkillable both signals, ignoreTerminate only SIGTERM", () => {
    const book = makeFaultBook(2, [], {
      rules: [{ kind: "ignoreTerminate", ranks: [0], probability: 1 }, { kind: "unkillable", ranks: [1], probability: 1 }]
    })
    expect(book.resist(0, "terminate")).toBe("ignoreTerminate")
    expect(book.resist(0, "kill")).toBeUndefined()
    expect(book.resist(1, "kill")).toBe("unkillable")
    expect(book.resist(1, "terminate")).toBe("unkillable")
    expect(book.take(1, "execute")).toBeUndefined()
  })
})

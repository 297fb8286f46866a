/**
 * Goal: the fault plan (counted specs and probabilistic rules) decodes from JSON with errors
 * that name the field, for every fault kind and its method rule.
 * Method: example tests for each decoding rule, and a property that every kind has a
 * well-formed spec that decodes to itself.
 */
import { fc, test } from "@fast-check/vitest"
import { Result } from "effect"
import { describe, expect } from "vitest"
import {
  checkFaultRule, checkFaultSpec, decodeFaultRule, decodeFaultSpec, faultKinds, type FaultSpec, methodBoundFaultKinds,
  signalFaultKinds
} from "../../../backends/sim/faults.ts"
import { faultPointOfKind, faultPointNames } from "../../../backends/sim/fault-points.ts"

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
      { rank: 3, kind: "unkillable" },
      { rank: 1, method: "execute", kind: "dropReply", count: 1 },
      { rank: 1, method: "listLoras", kind: "duplicateReply" },
      { rank: 2, kind: "oomOnWake" },
      { rank: 2, method: "wakeUp", kind: "oomOnWake", count: 1 },
      { rank: 0, kind: "crashDuringShutdown" },
      { rank: 0, method: "shutdown", kind: "crashDuringShutdown" }
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
    expect(fieldOf({ rank: 0, kind: "dropReply" })).toBe("method")
    expect(fieldOf({ rank: 0, kind: "duplicateReply" })).toBe("method")
    expect(fieldOf({ rank: 0, method: "sleep", kind: "oomOnWake" })).toBe("method")
    expect(fieldOf({ rank: 0, method: "execute", kind: "crashDuringShutdown" })).toBe("method")
  })

  test.prop([fc.constantFrom(...faultKinds), fc.nat(3)])("every kind has a well-formed spec, and a fault point of its own", (kind, rank) => {
    const isSignal = (signalFaultKinds as ReadonlyArray<string>).includes(kind)
    const spec: FaultSpec = {
      rank, kind,
      ...(isSignal || methodBoundFaultKinds[kind] !== undefined ? {} : { method: "execute" as const }),
      ...(kind === "slow" ? { delayMs: 5 } : {})
    }
    expect(Result.getOrThrow(decodeFaultSpec(spec))).toEqual(spec)
    expect(faultPointNames).toContain(faultPointOfKind[kind])
  })

  test("checkFaultSpec refuses a rank outside the world and accepts one inside", () => {
    expect(checkFaultSpec({ rank: 4, method: "load", kind: "throw" }, 4)?.field).toBe("rank")
    expect(checkFaultSpec({ rank: 3, method: "load", kind: "throw" }, 4)).toBeUndefined()
  })
})


describe("FaultRuleSchema", () => {
  test("a rule may leave out the method and the ranks, and needs a probability in [0, 1]", () => {
    expect(Result.getOrThrow(decodeFaultRule({ kind: "throw", probability: 0.2 }))).toEqual({ kind: "throw", probability: 0.2 })
    expect(Result.isSuccess(decodeFaultRule({ kind: "dropReply", method: "execute", ranks: [0, 2], probability: 1 }))).toBe(true)
    expect(Result.isSuccess(decodeFaultRule({ kind: "unkillable", probability: 0.5 }))).toBe(true)
    const fieldOf = (input: unknown) => {
      const decoded = decodeFaultRule(input)
      return Result.isFailure(decoded) ? decoded.failure.field : "(decoded)"
    }
    expect(fieldOf({ kind: "throw", probability: 1.5 })).toBe("probability")
    expect(fieldOf({ kind: "throw" })).toBe("probability")
    expect(fieldOf({ kind: "throw", probability: 0.1, ranks: [] })).toBe("ranks")
    expect(fieldOf({ kind: "throw", probability: 0.1, ranks: [1, 1] })).toBe("ranks")
    expect(fieldOf({ kind: "slow", probability: 0.1 })).toBe("delayMs")
    expect(fieldOf({ kind: "oomOnWake", method: "load", probability: 0.1 })).toBe("method")
    expect(fieldOf({ kind: "ignoreTerminate", method: "load", probability: 0.1 })).toBe("method")
    expect(fieldOf({ kind: "throw", probability: 0.1, count: 2 })).toBe("count")
  })

  test("checkFaultRule refuses a rank outside the world, naming its index", () => {
    expect(checkFaultRule({ kind: "throw", ranks: [0, 4], probability: 0.5 }, 4)?.field).toBe("ranks.1")
    expect(checkFaultRule({ kind: "throw", ranks: [0, 3], probability: 0.5 }, 4)).toBeUndefined()
  })
})

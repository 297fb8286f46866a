/**
 * Goal: the network's plan for one message follows its configuration: delays stay within their
 * distribution, a dropped message has no copy, a duplicated one has two, in-order copies never
 * arrive before an earlier in-order copy, a quiet link draws nothing, and a seed replays the same
 * plans. Configurations decode from JSON with errors that name the field, and merge field by field.
 * Method: fast-check properties over random configurations and seeds, on the pure functions.
 */
import { fc, test } from "@fast-check/vitest"
import { Result } from "effect"
import { describe, expect } from "vitest"
import { makeStream } from "../../../core/random.ts"
import {
  checkNetworkConfig, decodeNetworkConfig, type DelayDistribution, linkConfigOf, mergeLinkConfig, planTransmission,
  quietLink, sampleDelayMs
} from "../../../backends/sim/network.ts"
import { delayArbitrary, linkArbitrary } from "./network-arbitraries.ts"

const bounds = (delay: DelayDistribution): readonly [number, number] => {
  switch (delay.kind) {
    case "fixed": return [delay.ms, delay.ms]
    case "uniform": return [delay.minMs, delay.maxMs]
    case "exponential": return [0, delay.maxMs]
  }
}

describe("network plan", () => {
  test.prop([delayArbitrary, fc.nat()])("a sampled delay lies within its distribution's bounds", (delay, seed) => {
    const random = makeStream(seed, "network")
    const [minMs, maxMs] = bounds(delay)
    for (let draw = 0; draw < 20; draw++) {
      const delayMs = sampleDelayMs(delay, random)
      expect(delayMs).toBeGreaterThanOrEqual(minMs)
      expect(delayMs).toBeLessThanOrEqual(maxMs)
    }
  })

  test.prop([linkArbitrary, fc.nat(), fc.array(fc.nat(30), { minLength: 1, maxLength: 30 })])(
    "copies: none when dropped, two when duplicated; in-order copies keep send order; a seed replays the plans",
    (config, seed, sendGapsMs) => {
      const plan = (random = makeStream(seed, "network")) => {
        let nowMs = 0
        let lastInOrderAtMs = Number.NEGATIVE_INFINITY
        return sendGapsMs.map((gapMs) => {
          nowMs += gapMs
          const transmission = planTransmission(config, random, nowMs, lastInOrderAtMs)
          for (const copy of transmission.copies) {
            expect(copy.deliverAtMs).toBeGreaterThanOrEqual(nowMs)
            if (copy.inOrder) {
              expect(copy.deliverAtMs).toBeGreaterThanOrEqual(lastInOrderAtMs)
              lastInOrderAtMs = copy.deliverAtMs
            }
          }
          expect(transmission.copies.length).toBe(transmission.dropped ? 0 : transmission.duplicated ? 2 : 1)
          if (config.dropProbability === 1) expect(transmission.dropped).toBe(true)
          if (config.reorderProbability === 0) expect(transmission.reorderedCopies).toBe(0)
          return transmission
        })
      }
      expect(plan()).toEqual(plan())
    })

  test.prop([fc.nat()])("a quiet link delivers every message at once and draws nothing from the stream", (seed) => {
    const random = makeStream(seed, "network")
    const untouched = makeStream(seed, "network")
    expect(planTransmission(quietLink, random, 5, Number.NEGATIVE_INFINITY)).toEqual({
      copies: [{ deliverAtMs: 5, inOrder: true }], dropped: false, duplicated: false, reorderedCopies: 0
    })
    expect(random.nextUint32()).toBe(untouched.nextUint32())
  })
})

describe("network configuration", () => {
  test("a rank's override applies after the shared setting, and names only what it changes", () => {
    const config = {
      reply: { dropProbability: 0.5, delayMs: { kind: "fixed" as const, ms: 3 } },
      links: [{ rank: 1, config: { dropProbability: 0 } }, { rank: 2, direction: "request" as const, config: { reorderProbability: 1 } }]
    }
    const resolve = (rank: number, direction: "request" | "reply") =>
      linkConfigOf(config, rank, direction).reduce(mergeLinkConfig, quietLink)
    expect(resolve(0, "reply")).toMatchObject({ dropProbability: 0.5, delayMs: { kind: "fixed", ms: 3 } })
    expect(resolve(1, "reply")).toMatchObject({ dropProbability: 0, delayMs: { kind: "fixed", ms: 3 } })
    expect(resolve(2, "request")).toEqual({ ...quietLink, reorderProbability: 1 })
    expect(resolve(2, "reply").reorderProbability).toBe(0)
  })

  test("a refused configuration names the field that broke the rule", () => {
    const fieldOf = (input: unknown) => {
      const decoded = decodeNetworkConfig(input)
      return Result.isFailure(decoded) ? decoded.failure.field : "(decoded)"
    }
    expect(fieldOf({ reply: { dropProbability: 1.5 } })).toBe("reply.dropProbability")
    expect(fieldOf({ request: { delayMs: { kind: "uniform", minMs: 5, maxMs: 2 } } })).toBe("request.delayMs.maxMs")
    expect(fieldOf({ request: { jitter: 3 } })).toBe("request.jitter")
    expect(fieldOf({ links: [{ rank: 0, direction: "sideways", config: {} }] })).toBe("links.0.direction")
    expect(checkNetworkConfig({ links: [{ rank: 4, config: {} }] }, 4)?.field).toBe("links.0.rank")
    expect(checkNetworkConfig({ links: [{ rank: 3, config: {} }] }, 4)).toBeUndefined()
  })
})

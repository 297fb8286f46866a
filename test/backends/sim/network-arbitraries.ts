/**
 * fast-check arbitraries for network configurations, shared by the network, link and cluster
 * tests. Delays stay small so a settle of a few virtual seconds always drains every link.
 */
import { fc } from "@fast-check/vitest"
import type { DelayDistribution, ResolvedLinkConfig } from "../../../backends/sim/network.ts"

export const delayArbitrary: fc.Arbitrary<DelayDistribution> = fc.oneof(
  fc.record({ kind: fc.constant("fixed" as const), ms: fc.integer({ min: 0, max: 20 }) }),
  fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 20 })).map(([minMs, extraMs]) =>
    ({ kind: "uniform" as const, minMs, maxMs: minMs + extraMs })),
  fc.record({ kind: fc.constant("exponential" as const), meanMs: fc.integer({ min: 0, max: 10 }), maxMs: fc.integer({ min: 0, max: 40 }) })
)

const probability = fc.constantFrom(0, 0.1, 0.3, 0.5, 1)

export const linkArbitrary: fc.Arbitrary<ResolvedLinkConfig> = fc.record({
  delayMs: delayArbitrary,
  dropProbability: probability,
  duplicateProbability: probability,
  reorderProbability: probability,
  reorderDelayMsMax: fc.integer({ min: 0, max: 20 })
})

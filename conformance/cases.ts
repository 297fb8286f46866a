/**
 * Generators and builders shared by the properties: cluster shapes, rank subsets, per-rank fault
 * plans, and valid requests.
 *
 * Every generated case carries the cluster's seed, so a shrunk counterexample names everything
 * needed to rebuild its cluster exactly. Fault plans are data (`RankFaultPlan`), turned into the
 * harness's `FaultSpec`s in one place, so the outcome a plan must produce on a rank is computed
 * from the same data that placed the fault.
 */
import { Effect } from "effect"
import * as fc from "fast-check"
import type { ClusterHarness, FaultSpec } from "../backends/harness.ts"
import type { WorkerMethod } from "../core/worker.ts"
import { allRanks, succeed } from "./cluster.ts"

export const worldSizeMax = 5

/** A world size and a cluster seed. */
export const clusterShape = (ranksMin = 1, ranksMax = worldSizeMax) =>
  fc.record({ ranks: fc.integer({ min: ranksMin, max: ranksMax }), seed: fc.nat({ max: 0x7fff_ffff }) })

/** An ascending subset of the ranks of a world of `worldSize`. */
export const rankSubset = (worldSize: number, minLength = 0) =>
  fc.subarray([...allRanks(worldSize)], { minLength })

/**
 * What one rank does with one call: answer normally, fail definitely (`throw`), never answer
 * until healed (`hang`), or answer late, well before (`slowOnTime`) or well after
 * (`slowLate`) the call's deadline. The margins are wide on purpose, so the expected outcome holds
 * on a wall-clock backend too.
 */
export type RankFaultPlan = "none" | "throw" | "hang" | "slowOnTime" | "slowLate"

export const rankFaultPlans: ReadonlyArray<RankFaultPlan> = ["none", "throw", "hang", "slowOnTime", "slowLate"]

/** The outcome tag a plan must produce on its rank (slow delays are set from the deadline, see `slowDelayMs`). */
export const expectedOutcomeTag = (plan: RankFaultPlan): "Ok" | "Failed" | "TimedOut" => {
  switch (plan) {
    case "none": return "Ok"
    case "throw": return "Failed"
    case "hang": return "TimedOut"
    case "slowOnTime": return "Ok"
    case "slowLate": return "TimedOut"
  }
}

/** The delay of a slow plan: a quarter of the deadline, or twice it. */
export const slowDelayMs = (plan: "slowOnTime" | "slowLate", timeoutMs: number): number =>
  plan === "slowOnTime" ? Math.max(1, Math.floor(timeoutMs / 4)) : timeoutMs * 2

/** The fault spec that makes `rank` follow `plan` on its next call of `method`; none for "none". */
export const faultSpecOf = (rank: number, method: WorkerMethod, plan: RankFaultPlan, timeoutMs: number): FaultSpec | undefined => {
  switch (plan) {
    case "none": return undefined
    case "throw":
    case "hang": return { rank, method, kind: plan, count: 1 }
    case "slowOnTime":
    case "slowLate": return { rank, method, kind: "slow", count: 1, delayMs: slowDelayMs(plan, timeoutMs) }
  }
}

/** Injects every spec through the harness; a refused spec is a violation of the backend's own claim. */
export const injectAll = (harness: ClusterHarness, specs: ReadonlyArray<FaultSpec>): Promise<void> =>
  succeed(harness, `injecting ${specs.length} faults`, Effect.forEach(specs, (spec) => harness.faults.inject(spec), { discard: true }))

/** A small valid request: cheap on any backend, distinct by `requestId`. */
export const validRequest = (requestId: string, overrides: Readonly<Record<string, unknown>> = {}) => ({
  requestId,
  prompt: "a lighthouse at dusk",
  steps: 2,
  height: 16,
  width: 16,
  seed: 7,
  ...overrides
})

/** A readable label for a rank set in counterexamples and messages. */
export const showRanks = (ranks: ReadonlyArray<number>): string => `[${ranks.join(", ")}]`

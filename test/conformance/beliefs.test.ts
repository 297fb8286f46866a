/**
 * Goal: the belief checker tells consistent engines from silently divergent ones: a definite
 * belief that contradicts the truth is always reported, uncertainty only while the engine is ready
 * or asleep, and dead ranks are left out.
 * Method: hand-built views and truths covering each rule once.
 */
import { describe, expect, test } from "vitest"
import type { RankTruth } from "../../backends/harness.ts"
import type { RankView } from "../../core/rank-views.ts"
import { contradictions, differences, silentDivergence } from "../../conformance/beliefs.ts"

const view = (rank: number, loras: Array<number>, sleep: RankView["sleep"] = 0, maybe: Array<number> = []): RankView =>
  ({ rank, loras: new Set(loras), lorasMaybe: new Set(maybe), sleep })
const truth = (rank: number, loras: Array<number>, sleepLevel: 1 | 2 | null = null, alive = true): RankTruth =>
  ({ rank, alive, asleep: sleepLevel !== null, sleepLevel, loras, exit: null })

describe("beliefs", () => {
  test("beliefs equal to the truth have no contradiction and no difference", () => {
    expect(differences([view(0, [3], 1)], [truth(0, [3], 1)])).toEqual([])
  })

  test("a sure belief the truth contradicts is reported in any state", () => {
    expect(contradictions([view(0, [3])], [truth(0, [])])).toEqual(["engine is sure rank 0 holds adapter 3; it does not"])
    expect(contradictions([view(0, [])], [truth(0, [4])])).toEqual(["rank 0 holds adapter 4; engine is sure it does not"])
    expect(contradictions([view(0, [], 0)], [truth(0, [], 2)])).toEqual(["engine is sure rank 0 sleeps at level 0; it is at 2"])
    expect(silentDivergence({ state: "degraded", views: [view(0, [3])], truth: [truth(0, [])] })).toHaveLength(1)
  })

  test("uncertainty is allowed while degraded and a divergence while ready", () => {
    const views = [view(0, [], "maybe", [5])]
    const truths = [truth(0, [5], 1)]
    expect(silentDivergence({ state: "degraded", views, truth: truths })).toEqual([])
    expect(silentDivergence({ state: "ready", views, truth: truths })).toEqual([
      "engine is ready, yet engine is unsure whether rank 0 holds adapters 5",
      "engine is ready, yet engine is unsure whether rank 0 sleeps"
    ])
  })

  test("dead ranks are left out", () => {
    expect(differences([view(0, [3], "maybe")], [truth(0, [], null, false)])).toEqual([])
  })
})

/**
 * Comparing what the engine believes about each rank with what the rank really holds.
 *
 * This is the measure of "no silent divergence". A belief is definite (the rank surely holds
 * adapter 3, surely sleeps at level 1, surely does not hold adapter 5) or uncertain ("maybe",
 * after an indefinite outcome). Two rules follow. A definite belief must never contradict the
 * truth, in any engine state. And when the engine says it is `ready` or `asleep` (it serves work
 * on the strength of its beliefs), every belief must be definite and equal the truth. Dead ranks
 * are left out: they hold nothing anyone can use.
 */
import type { RankTruth } from "../backends/harness.ts"
import type { RankView } from "../core/rank-views.ts"
import type { Snapshot } from "./cluster.ts"

const sorted = (ids: Iterable<number>) => [...ids].sort((a, b) => a - b)

/** Each definite belief about an alive rank that the rank's truth contradicts, as a sentence. */
export const contradictions = (views: ReadonlyArray<RankView>, truth: ReadonlyArray<RankTruth>): ReadonlyArray<string> =>
  truth.filter((rank) => rank.alive).flatMap((rank) => {
    const view = views[rank.rank]
    const held = new Set(rank.loras)
    const found: Array<string> = []
    for (const id of sorted(view.loras)) {
      if (!held.has(id)) found.push(`engine is sure rank ${rank.rank} holds adapter ${id}; it does not`)
    }
    for (const id of rank.loras) {
      if (!view.loras.has(id) && !view.lorasMaybe.has(id)) found.push(`rank ${rank.rank} holds adapter ${id}; engine is sure it does not`)
    }
    const level = rank.sleepLevel ?? 0
    if (view.sleep !== "maybe" && view.sleep !== level) found.push(`engine is sure rank ${rank.rank} sleeps at level ${view.sleep}; it is at ${level}`)
    return found
  })

/** Every difference between beliefs and truth on alive ranks, uncertainty included. */
export const differences = (views: ReadonlyArray<RankView>, truth: ReadonlyArray<RankTruth>): ReadonlyArray<string> =>
  truth.filter((rank) => rank.alive).flatMap((rank) => {
    const view = views[rank.rank]
    const found: Array<string> = []
    if (view.lorasMaybe.size > 0) found.push(`engine is unsure whether rank ${rank.rank} holds adapters ${sorted(view.lorasMaybe).join(", ")}`)
    if (view.sleep === "maybe") found.push(`engine is unsure whether rank ${rank.rank} sleeps`)
    return found
  }).concat(contradictions(views, truth))

/** States in which the engine acts on its beliefs as facts. */
export const actsOnBeliefs = (state: string): boolean => state === "ready" || state === "asleep"

/** Violations of the two rules in one snapshot, as sentences; empty when it is consistent. */
export const silentDivergence = (snapshot: Snapshot): ReadonlyArray<string> =>
  actsOnBeliefs(snapshot.state)
    ? differences(snapshot.views, snapshot.truth).map((difference) => `engine is ${snapshot.state}, yet ${difference}`)
    : contradictions(snapshot.views, snapshot.truth)

/** A one-line picture of the truth, for violation messages. */
export const describeTruth = (truth: ReadonlyArray<RankTruth>): string =>
  truth.map((rank) => `rank ${rank.rank}${rank.alive ? "" : " dead"} sleep ${rank.sleepLevel ?? 0} adapters [${rank.loras.join(",")}]`).join("; ")

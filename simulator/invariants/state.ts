/**
 * Checks of the engine's state: observed states follow the lifecycle, a dead rank fails the
 * engine, and no definite belief in the engine's views contradicts the ranks' truth.
 *
 * Views lag the truth while an operation is in flight (ranks apply a call before the engine hears
 * back), so the subject of an in-flight operation is not compared, and the resting-state rules
 * (ready and asleep mean no doubt and agreement) are judged only when no control call is in
 * flight. A "maybe" belief is always allowed: it is the engine saying it does not know.
 */
import type { RankTruth } from "../../backends/harness.ts"
import { canTransition, type EngineState, isLive } from "../../core/lifecycle.ts"
import type { RankView } from "../../core/rank-views.ts"
import { allRankKinds } from "../history.ts"
import type { Observation } from "../invariants.ts"
import { ascending, notePath, type Problem, type Reference } from "./reference.ts"

/** Every check of an observation; they run in order and each updates the reference it keeps. */
export const observationProblems = (reference: Reference, observation: Observation): ReadonlyArray<Problem | undefined> => [
  checkLifecycle(reference, observation), checkDeadRank(reference, observation), checkViews(observation)
]

const engineStates: ReadonlyArray<EngineState> = ["starting", "ready", "asleep", "degraded", "failed", "closing", "closed", "pending-cleanup"]

/** Whether `to` can follow `from` through any number of legal transitions (observations skip some). */
const reachable = (from: EngineState, to: EngineState): boolean => {
  const seen = new Set<EngineState>([from])
  const frontier = [from]
  while (frontier.length > 0) {
    const state = frontier.pop()!
    for (const next of engineStates) {
      if (!seen.has(next) && canTransition(state, next)) frontier.push(next), seen.add(next)
    }
  }
  return seen.has(to)
}

const checkLifecycle = (reference: Reference, observation: Observation): Problem | undefined => {
  const previous = reference.lastState
  const current = observation.engineState
  reference.lastState = current
  if (previous === undefined || previous === current) return undefined
  if (previous === "degraded" && (current === "ready" || current === "asleep")) notePath(reference, "reconciled-from-degraded")
  if (current === "degraded") notePath(reference, "engine-degraded")
  if (current === "failed") notePath(reference, "engine-failed")
  return reachable(previous, current) ? undefined : ["state-follows-lifecycle", `the engine went from ${previous} to ${current}`]
}

/** A death reaches the engine through an event, so it is due only at a later observation. */
const checkDeadRank = (reference: Reference, observation: Observation): Problem | undefined => {
  const dead = observation.truth.filter((rank) => !rank.alive).map((rank) => rank.rank)
  if (dead.length === 0) return undefined
  reference.deadSinceMs ??= observation.atMs
  const overdue = observation.atMs > reference.deadSinceMs + reference.options.deathNoticeMs
  return overdue && isLive(observation.engineState)
    ? ["dead-rank-fails-engine", `ranks [${dead}] are dead since ${reference.deadSinceMs} ms, yet the engine is ${observation.engineState}`]
    : undefined
}

/** Compares each live rank's truth with the engine's definite beliefs, skipping subjects in flight. */
const checkViews = (observation: Observation): Problem | undefined => {
  const state = observation.engineState
  if (state !== "ready" && state !== "asleep" && state !== "degraded") return undefined
  const inFlight = observation.inFlight
  const lorasInFlight = new Set(inFlight.flatMap((entry) => {
    const args = (entry.args ?? {}) as { adapter?: { id: number }; adapterId?: number }
    return entry.kind === "addLora" ? [args.adapter?.id] : entry.kind === "removeLora" ? [args.adapterId] : []
  }))
  const sleepInFlight = inFlight.some((entry) => entry.kind === "sleep" || entry.kind === "wakeUp")
  for (const view of observation.views) {
    const truth = observation.truth[view.rank]
    if (!truth?.alive) continue
    const problem = viewProblem(view, truth, lorasInFlight, sleepInFlight)
    if (problem) return ["no-silent-divergence", `${state}: ${problem}`]
  }
  // Mid-operation the engine updates views before it settles its state: judge state only at rest.
  if (state === "degraded" || inFlight.some((entry) => allRankKinds.includes(entry.kind))) return undefined
  const problem = restingStateProblem(state, observation.views)
  return problem ? ["no-silent-divergence", problem] : undefined
}

const viewProblem = (view: RankView, truth: RankTruth, lorasInFlight: ReadonlySet<number | undefined>, sleepInFlight: boolean): string | undefined => {
  const level = truth.sleepLevel ?? 0
  if (!sleepInFlight && view.sleep !== "maybe" && view.sleep !== level) {
    return `the engine believes rank ${view.rank} is at sleep level ${view.sleep}, but it is at ${level}`
  }
  const heldFalsely = [...view.loras].find((id) => !lorasInFlight.has(id) && !truth.loras.includes(id))
  if (heldFalsely !== undefined) return `the engine believes rank ${view.rank} holds adapter ${heldFalsely}, but it does not`
  const hidden = truth.loras.find((id) => !lorasInFlight.has(id) && !view.loras.has(id) && !view.lorasMaybe.has(id))
  return hidden === undefined ? undefined : `rank ${view.rank} holds adapter ${hidden}, which the engine believes absent`
}

const restingStateProblem = (state: "ready" | "asleep", views: ReadonlyArray<RankView>): string | undefined => {
  const doubtful = views.find((view) => view.sleep === "maybe" || view.lorasMaybe.size > 0)
  if (doubtful) return `the engine is ${state} yet unsure about rank ${doubtful.rank}`
  const key = (view: RankView) => `${ascending([...view.loras])}|${view.sleep}`
  const differing = views.find((view) => key(view) !== key(views[0]))
  if (differing) return `the engine is ${state} yet believes rank ${differing.rank} differs from rank 0`
  const asleep = views[0].sleep !== 0
  return asleep === (state === "asleep") ? undefined : `the engine is ${state} while its views say sleep level ${views[0].sleep}`
}

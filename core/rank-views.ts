/**
 * What the engine believes each rank holds: adapters and sleep level, with honest uncertainty.
 *
 * After an indefinite outcome (a rank timed out or crashed mid-call) the engine cannot know
 * whether the rank applied the call, so the belief is "maybe". The views are the basis of the
 * no-silent-divergence rule: when ranks differ, or any belief is "maybe", the engine is degraded
 * and names the ranks; a later operation that reads the ranks' real state (listLoras,
 * checkHealth) or applies cleanly everywhere replaces beliefs with facts and may reconcile.
 */
import { assert } from "./assert.ts"
import { canonicalJson } from "./control.ts"

export type SleepBelief = 0 | 1 | 2 | "maybe"

export interface RankView {
  readonly rank: number
  /** Adapters the rank surely holds. */
  readonly loras: ReadonlySet<number>
  /** Adapters the rank may or may not hold. */
  readonly lorasMaybe: ReadonlySet<number>
  /** 0 when awake. */
  readonly sleep: SleepBelief
}

export interface Divergence {
  readonly divergentRanks: ReadonlyArray<number>
  readonly reason: string
}

export interface RankViews {
  readonly get: (rank: number) => RankView
  readonly all: () => ReadonlyArray<RankView>
  readonly setLora: (rank: number, adapterId: number, belief: "held" | "absent" | "maybe") => void
  /** Replaces a rank's adapter beliefs with what it reported. */
  readonly setLoras: (rank: number, adapterIds: ReadonlyArray<number>) => void
  readonly setSleep: (rank: number, sleep: SleepBelief) => void
  /** Undefined when every rank surely holds the same state. */
  readonly divergence: () => Divergence | undefined
  /** True when every rank surely holds `adapterId`. */
  readonly heldEverywhere: (adapterId: number) => boolean
  /** The common sleep level when every rank surely agrees. */
  readonly commonSleep: () => 0 | 1 | 2 | undefined
}

export const makeRankViews = (worldSize: number): RankViews => {
  const views = Array.from({ length: worldSize }, (_, rank) => ({
    rank,
    loras: new Set<number>(),
    lorasMaybe: new Set<number>(),
    sleep: 0 as SleepBelief
  }))
  const view = (rank: number) => {
    assert(rank >= 0 && rank < worldSize, "a view exists for every rank and only those")
    return views[rank]
  }

  const setLora = (rank: number, adapterId: number, belief: "held" | "absent" | "maybe") => {
    const target = view(rank)
    target.loras.delete(adapterId)
    target.lorasMaybe.delete(adapterId)
    if (belief === "held") target.loras.add(adapterId)
    if (belief === "maybe") target.lorasMaybe.add(adapterId)
  }

  const setLoras = (rank: number, adapterIds: ReadonlyArray<number>) => {
    const target = view(rank)
    target.loras.clear()
    target.lorasMaybe.clear()
    for (const adapterId of adapterIds) target.loras.add(adapterId)
  }

  const divergence = (): Divergence | undefined => {
    const uncertain = views.filter((v) => v.lorasMaybe.size > 0 || v.sleep === "maybe").map((v) => v.rank)
    const groups = new Map<string, Array<number>>()
    for (const v of views) {
      const key = canonicalJson({ loras: [...v.loras].sort((a, b) => a - b), sleep: v.sleep })
      groups.set(key, [...(groups.get(key) ?? []), v.rank])
    }
    if (uncertain.length === 0 && groups.size <= 1) return undefined
    const majority = [...groups.values()].sort((a, b) => b.length - a.length || a[0] - b[0])[0]
    const differing = [...groups.values()].filter((group) => group !== majority).flat()
    const divergentRanks = [...new Set([...uncertain, ...differing])].sort((a, b) => a - b)
    const reasons = divergentRanks.map((rank) => describeView(views[rank]))
    return { divergentRanks, reason: reasons.join("; ") }
  }

  const commonSleep = () => {
    const levels = new Set(views.map((v) => v.sleep))
    if (levels.size !== 1) return undefined
    const [level] = levels
    return level === "maybe" ? undefined : level
  }

  return {
    get: (rank) => view(rank),
    all: () => views,
    setLora,
    setLoras,
    setSleep: (rank, sleep) => void (view(rank).sleep = sleep),
    divergence,
    heldEverywhere: (adapterId) => views.every((v) => v.loras.has(adapterId)),
    commonSleep
  }
}

const describeView = (v: RankView): string => {
  const loras = [...v.loras].sort((a, b) => a - b).join(",")
  const maybe = v.lorasMaybe.size > 0 ? ` maybe [${[...v.lorasMaybe].sort((a, b) => a - b).join(",")}]` : ""
  return `rank ${v.rank}: adapters [${loras}]${maybe}, sleep ${v.sleep}`
}

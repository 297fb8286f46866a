/**
 * Swarm testing: each seed enables its own random subset of fault kinds with its own rates.
 *
 * A fixed fault mix explores a fixed corner of the fault space; swarm testing (as FoundationDB
 * and TigerBeetle's VOPR do it) lets each seed pick which kinds are on and how often they fire,
 * so a sweep covers rare combinations that a uniform mix would drown. A budget bounds what a seed
 * may choose: how many ranks may be faulty at all (a safety run keeps at least a quorum clean),
 * and whether crashes are allowed. The resolved configuration is printed at the start of a run,
 * so a failure report says exactly which world it happened in.
 */
import { assert } from "../core/assert.ts"
import type { Prng } from "../core/random.ts"
import type { WorkerMethod } from "../core/worker.ts"

/** Fault kinds of a call or signal that a swarm may enable. */
export const rankFaultKinds = [
  "throw", "hang", "slow", "crashBeforeApply", "crashAfterApply", "dropReply", "duplicateReply",
  "oomOnWake", "crashDuringShutdown", "ignoreTerminate", "unkillable"
] as const
/** Network fault kinds a swarm may enable. */
export const networkFaultKinds = ["delay", "drop", "duplicate", "reorder", "clog", "swizzle"] as const
export const swarmFaultKinds = [...rankFaultKinds, ...networkFaultKinds] as const
export type SwarmFaultKind = (typeof swarmFaultKinds)[number]

const crashKinds: ReadonlyArray<SwarmFaultKind> = ["crashBeforeApply", "crashAfterApply", "crashDuringShutdown"]

/** Methods a call fault may target; `load` is left alone so every run starts. */
const targetMethods: ReadonlyArray<WorkerMethod> = [
  "execute", "sleep", "wakeUp", "addLora", "removeLora", "pinLora", "listLoras", "checkHealth", "shutdown"
]

export interface SwarmBudget {
  /** How many ranks may carry rank faults (0 keeps every rank clean). */
  readonly faultyRanksMax: number
  /** Whether crash kinds may be enabled at all. */
  readonly crashes: boolean
}

export const safetyBudget = (worldSize: number): SwarmBudget => ({ faultyRanksMax: Math.max(1, Math.floor(worldSize / 2)), crashes: true })

/** One enabled rank fault: a kind, the method it targets (if a call fault), and its rate. */
export interface SwarmRule {
  readonly kind: (typeof rankFaultKinds)[number]
  readonly method?: WorkerMethod | undefined
  readonly ranks: ReadonlyArray<number>
  readonly probability: number
  readonly delayMs?: number | undefined
}

export interface SwarmNetwork {
  readonly requestDelayMs: { readonly kind: "uniform"; readonly minMs: number; readonly maxMs: number }
  readonly replyDelayMs: { readonly kind: "uniform"; readonly minMs: number; readonly maxMs: number }
  readonly dropProbability: number
  readonly duplicateProbability: number
  readonly reorderProbability: number
  /** Milliseconds between clog events, or 0 when links are never clogged. */
  readonly clogEveryMs: number
  readonly swizzleEveryMs: number
}

export interface SwarmConfig {
  readonly enabled: ReadonlyArray<SwarmFaultKind>
  readonly faultyRanks: ReadonlyArray<number>
  readonly rules: ReadonlyArray<SwarmRule>
  readonly network: SwarmNetwork
}

/** How a run chooses faults: every kind a seed likes (`swarm`), a fixed list, or none. */
export type FaultSelection = { readonly _tag: "swarm" } | { readonly _tag: "kinds"; readonly kinds: ReadonlyArray<SwarmFaultKind> } | { readonly _tag: "none" }

const callKindsNeedingMethod: ReadonlyArray<SwarmFaultKind> = ["throw", "hang", "slow", "crashBeforeApply", "crashAfterApply", "dropReply", "duplicateReply"]

/** Resolves a seed's swarm from its fault stream: which kinds, on which ranks, how often. */
export const resolveSwarm = (prng: Prng, worldSize: number, selection: FaultSelection, budget: SwarmBudget): SwarmConfig => {
  assert(worldSize >= 1, "a swarm has ranks to fault")
  assert(budget.faultyRanksMax >= 0, "the faulty-rank budget is not negative")
  const candidates = selection._tag === "none" ? [] : selection._tag === "kinds" ? selection.kinds : swarmFaultKinds
  const allowed = candidates.filter((kind) => budget.crashes || !crashKinds.includes(kind))
  // Swarm: each kind is on with probability one half, so seeds differ in their mixes.
  const enabled = selection._tag === "swarm" ? allowed.filter(() => prng.chance(0.5)) : [...allowed]
  const faultyRanks = pickRanks(prng, worldSize, Math.min(budget.faultyRanksMax, worldSize))
  const rules = enabled.flatMap((kind) => ruleFor(prng, kind, faultyRanks))
  return { enabled, faultyRanks, rules, network: networkFor(prng, enabled) }
}

const pickRanks = (prng: Prng, worldSize: number, countMax: number): ReadonlyArray<number> => {
  if (countMax === 0) return []
  const count = 1 + prng.nextInt(countMax)
  const ranks = Array.from({ length: worldSize }, (_, rank) => rank)
  for (let index = ranks.length - 1; index > 0; index--) {
    const other = prng.nextInt(index + 1)
    ;[ranks[index], ranks[other]] = [ranks[other], ranks[index]]
  }
  return ranks.slice(0, count).sort((a, b) => a - b)
}

/** Rates are log-uniform between rare and frequent, so some seeds hammer a kind and others barely touch it. */
const rate = (prng: Prng, lowest: number, highest: number): number =>
  lowest * Math.pow(highest / lowest, prng.nextFloat())

const ruleFor = (prng: Prng, kind: SwarmFaultKind, ranks: ReadonlyArray<number>): ReadonlyArray<SwarmRule> => {
  if (ranks.length === 0 || (networkFaultKinds as ReadonlyArray<string>).includes(kind)) return []
  const rankKind = kind as SwarmRule["kind"]
  if (callKindsNeedingMethod.includes(kind)) {
    const method = prng.pick(targetMethods)
    const crash = kind === "crashBeforeApply" || kind === "crashAfterApply"
    return [{
      kind: rankKind, method, ranks,
      probability: crash ? rate(prng, 0.002, 0.05) : rate(prng, 0.01, 0.3),
      ...(kind === "slow" ? { delayMs: 1 + prng.nextInt(400) } : {})
    }]
  }
  return [{ kind: rankKind, ranks, probability: kind === "oomOnWake" ? rate(prng, 0.05, 0.5) : rate(prng, 0.1, 1) }]
}

const networkFor = (prng: Prng, enabled: ReadonlyArray<SwarmFaultKind>): SwarmNetwork => {
  const on = (kind: SwarmFaultKind) => enabled.includes(kind)
  const maxDelayMs = on("delay") ? 1 + prng.nextInt(20) : 0
  return {
    requestDelayMs: { kind: "uniform", minMs: 0, maxMs: maxDelayMs },
    replyDelayMs: { kind: "uniform", minMs: 0, maxMs: maxDelayMs },
    dropProbability: on("drop") ? rate(prng, 0.001, 0.05) : 0,
    duplicateProbability: on("duplicate") ? rate(prng, 0.001, 0.1) : 0,
    reorderProbability: on("reorder") ? rate(prng, 0.01, 0.3) : 0,
    clogEveryMs: on("clog") ? 200 + prng.nextInt(2_000) : 0,
    swizzleEveryMs: on("swizzle") ? 500 + prng.nextInt(5_000) : 0
  }
}

/** One line per part of the configuration, printed at the start of a run. */
export const describeSwarm = (swarm: SwarmConfig): string => {
  const rules = swarm.rules.map((rule) =>
    `${rule.kind}${rule.method ? `@${rule.method}` : ""} p=${rule.probability.toFixed(3)}${rule.delayMs ? ` delay=${rule.delayMs}ms` : ""}`)
  const network = swarm.network
  const parts = [
    `faults: ${swarm.enabled.length > 0 ? swarm.enabled.join(",") : "none"}`,
    `faulty ranks: [${swarm.faultyRanks.join(",")}]`,
    ...(rules.length > 0 ? [`rules: ${rules.join("; ")}`] : []),
    `network: delay<=${network.requestDelayMs.maxMs}ms drop=${network.dropProbability.toFixed(3)} dup=${network.duplicateProbability.toFixed(3)} reorder=${network.reorderProbability.toFixed(3)}${network.clogEveryMs ? ` clog/${network.clogEveryMs}ms` : ""}${network.swizzleEveryMs ? ` swizzle/${network.swizzleEveryMs}ms` : ""}`
  ]
  return parts.join(" | ")
}

/**
 * The fault book: the fault plan of one simulated cluster at run time.
 *
 * It holds counted specs (each fires on its rank and method until its count is spent) and
 * probabilistic rules (each matching call or signal fires with the rule's probability). A
 * counted spec takes precedence: a rule is asked only when no spec matches, so a scenario's
 * scripted fault always happens where the script says. Rules draw from the `faults` stream the
 * cluster hands in, and only rules draw, so a seed replays the same firings and a change to the
 * network's randomness does not move them. `stopInjecting` ends the rules (the counted specs stay
 * until `heal`), which is how a run enters its liveness phase.
 */
import { assert } from "../../core/assert.ts"
import { makeStream, type Prng } from "../../core/random.ts"
import type { WorkerMethod } from "../../core/worker.ts"
import {
  type CallFault, type CallFaultKind, type FaultCount, type FaultKind, faultMethod, type FaultRule, type FaultSpec,
  isCallFaultKind, type SignalFaultKind
} from "./faults.ts"

/**
 * The mutable fault state of one simulated cluster. Only the cluster's own fibers touch it, one
 * step at a time (JavaScript runs one fiber step at a time), so no lock is needed.
 */
export interface FaultBook {
  /** Adds a counted fault; the caller has checked it with `checkFaultSpec`. */
  readonly inject: (spec: FaultSpec) => void
  /** Adds a probabilistic rule; the caller has checked it with `checkFaultRule`. */
  readonly addRule: (rule: FaultRule) => void
  /** The call fault that fires on this call of (rank, method), if any; a spec's count goes down by one. */
  readonly take: (rank: number, method: WorkerMethod) => CallFault | undefined
  /** Whether a counted fault makes a SIGTERM to `rank` be ignored now (rules are not consulted). */
  readonly ignoresTerminate: (rank: number) => boolean
  /** Whether a counted fault makes `rank` survive a SIGKILL now (rules are not consulted). */
  readonly isUnkillable: (rank: number) => boolean
  /**
   * Asks whether the rank resists `signal`: the fault that resists (a spec's count taken down and
   * its firing counted), or undefined when the signal takes effect.
   */
  readonly resist: (rank: number, signal: "terminate" | "kill") => SignalFaultKind | undefined
  /** Drops every rule; counted specs stay until `heal`. */
  readonly stopInjecting: () => void
  /** Clears every spec and rule; counts of what fired are kept for the report. */
  readonly heal: () => void
  /** The rules now active, in the order they were added. */
  readonly rules: () => ReadonlyArray<FaultRule>
  /** What fired so far, ordered by rank, then method, then kind. */
  readonly counts: () => ReadonlyArray<FaultCount>
}

export interface FaultBookOptions {
  readonly rules?: ReadonlyArray<FaultRule> | undefined
  /** Where rules draw from; default the `faults` stream of seed 0. */
  readonly random?: Prng | undefined
}

interface ActiveFault {
  readonly spec: FaultSpec
  /** Remaining firings; Infinity when the spec has no count. */
  remaining: number
}

/** Builds a book for `worldSize` ranks holding `faults` and `options.rules`. */
export const makeFaultBook = (
  worldSize: number,
  faults: ReadonlyArray<FaultSpec> = [],
  options: FaultBookOptions = {}
): FaultBook => {
  assert(Number.isInteger(worldSize) && worldSize >= 1, "a fault book covers at least one rank")
  const random = options.random ?? makeStream(0, "faults")
  let active: Array<ActiveFault> = []
  let rules: Array<FaultRule> = []
  const fired = new Map<string, FaultCount>()

  const inject = (spec: FaultSpec): void => {
    assert(spec.rank >= 0 && spec.rank < worldSize, `fault rank ${spec.rank} lies within the world size ${worldSize}`)
    active.push({ spec, remaining: spec.count ?? Number.POSITIVE_INFINITY })
  }

  const addRule = (rule: FaultRule): void => {
    assert(rule.probability >= 0 && rule.probability <= 1, "a rule's probability lies in [0, 1]")
    assert((rule.ranks ?? []).every((rank) => rank >= 0 && rank < worldSize), "a rule's ranks lie within the world")
    rules.push(rule)
  }

  const record = (rank: number, method: WorkerMethod | null, kind: FaultKind): void => {
    const key = `${rank}|${method ?? ""}|${kind}`
    fired.set(key, { rank, method, kind, fired: (fired.get(key)?.fired ?? 0) + 1 })
  }

  /** Takes one firing of `fault`; it leaves the book when its count is spent. */
  const consume = (fault: ActiveFault): void => {
    assert(fault.remaining > 0, "only a fault with firings left is consumed")
    fault.remaining -= 1
    if (fault.remaining === 0) active = active.filter((other) => other !== fault)
  }

  const findSpec = (rank: number, kind: FaultKind): ActiveFault | undefined =>
    active.find((fault) => fault.spec.rank === rank && fault.spec.kind === kind)

  const take = (rank: number, method: WorkerMethod): CallFault | undefined => {
    const spec = active.find((candidate) =>
      candidate.spec.rank === rank && isCallFaultKind(candidate.spec.kind) &&
      faultMethod(candidate.spec.kind, candidate.spec.method) === method)
    if (spec !== undefined) {
      consume(spec)
      return callFault(rank, method, spec.spec)
    }
    const rule = firstFiringRule(rank, (kind, ruleMethod) =>
      isCallFaultKind(kind) && (faultMethod(kind, ruleMethod) ?? method) === method)
    return rule === undefined ? undefined : callFault(rank, method, rule)
  }

  const callFault = (rank: number, method: WorkerMethod, entry: FaultSpec | FaultRule): CallFault => {
    record(rank, method, entry.kind)
    return { kind: entry.kind as CallFaultKind, delayMs: entry.delayMs ?? 0 }
  }

  /** Each matching rule draws once, in order; the first that fires wins and later ones do not draw. */
  const firstFiringRule = (
    rank: number,
    matches: (kind: FaultKind, method: WorkerMethod | undefined) => boolean
  ): FaultRule | undefined =>
    rules.find((rule) =>
      (rule.ranks === undefined || rule.ranks.includes(rank)) && matches(rule.kind, rule.method) && draw(rule.probability))

  // Certain and impossible outcomes draw nothing, so adding a rule at probability 0 or 1 does not
  // shift the firings of the rules after it.
  const draw = (probability: number): boolean =>
    probability >= 1 ? true : probability <= 0 ? false : random.chance(probability)

  // SIGTERM is resisted by either signal fault, SIGKILL only by `unkillable`.
  const resists = (signal: "terminate" | "kill", kind: FaultKind): boolean =>
    kind === "unkillable" || (signal === "terminate" && kind === "ignoreTerminate")

  const resist = (rank: number, signal: "terminate" | "kill"): SignalFaultKind | undefined => {
    const spec = (signal === "terminate" ? findSpec(rank, "ignoreTerminate") : undefined) ?? findSpec(rank, "unkillable")
    if (spec !== undefined) consume(spec)
    const kind = spec?.spec.kind ?? firstFiringRule(rank, (ruleKind) => resists(signal, ruleKind))?.kind
    if (kind === undefined) return undefined
    record(rank, null, kind)
    return kind as SignalFaultKind
  }

  const counts = (): ReadonlyArray<FaultCount> =>
    [...fired.values()].sort((a, b) =>
      a.rank - b.rank || (a.method ?? "").localeCompare(b.method ?? "") || a.kind.localeCompare(b.kind))

  for (const spec of faults) inject(spec)
  for (const rule of options.rules ?? []) addRule(rule)
  return {
    inject,
    addRule,
    take,
    ignoresTerminate: (rank) => findSpec(rank, "ignoreTerminate") !== undefined || findSpec(rank, "unkillable") !== undefined,
    isUnkillable: (rank) => findSpec(rank, "unkillable") !== undefined,
    resist,
    stopInjecting: () => { rules = [] },
    heal: () => {
      active = []
      rules = []
    },
    rules: () => [...rules],
    counts
  }
}

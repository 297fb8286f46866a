/**
 * The fault points inside one rank process: which injected fault fires on the next call.
 *
 * The rank holds its own faults (from its start configuration, then injected or healed at run
 * time over IPC), because a real fault must happen where a real failure would: in the rank's own
 * serving loop, with the rank's own process exiting or stalling. Counted specs fire on their
 * method until their count is spent; a spec without a count fires forever. `heal` clears every
 * spec and releases every hung call (which then applies and replies late, as a stuck call that
 * comes unstuck does).
 */
import { assert } from "../../core/assert.ts"
import type { WorkerMethod } from "../../core/worker.ts"
import type { FaultKind, FaultSpec } from "../sim/faults.ts"
import { faultTarget } from "./faults.ts"

/** What the serving loop must do with one call. */
export interface FiredFault {
  readonly kind: FaultKind
  readonly delayMs: number
}

export interface RankFaults {
  readonly inject: (spec: FaultSpec) => void
  /** The call fault that fires on this call of `method`, if any; its count goes down by one. */
  readonly take: (method: WorkerMethod) => FiredFault | undefined
  /** Whether an `ignoreTerminate` fault swallows this SIGTERM; its count goes down by one. */
  readonly resistTerminate: () => boolean
  /** Whether any `ignoreTerminate` fault is active (the SIGTERM handler is installed while so). */
  readonly ignoresTerminate: () => boolean
  /** Resolves at the next heal: what a hung call waits on. */
  readonly healed: () => Promise<void>
  readonly heal: () => void
}

interface ActiveFault {
  readonly spec: FaultSpec
  remaining: number
}

export const makeRankFaults = (rank: number, initial: ReadonlyArray<FaultSpec>): RankFaults => {
  let active: Array<ActiveFault> = []
  let release: () => void = () => {}
  let healSignal = new Promise<void>((resolve) => { release = resolve })

  const inject = (spec: FaultSpec) => {
    assert(spec.rank === rank, "a rank is handed only its own faults")
    active.push({ spec, remaining: spec.count ?? Number.POSITIVE_INFINITY })
  }

  // The first matching spec in injection order fires, so a scripted sequence happens as written.
  const fire = (matches: (spec: FaultSpec) => boolean): FaultSpec | undefined => {
    const found = active.find((fault) => fault.remaining > 0 && matches(fault.spec))
    if (found === undefined) return undefined
    found.remaining--
    active = active.filter((fault) => fault.remaining > 0)
    return found.spec
  }

  const take = (method: WorkerMethod): FiredFault | undefined => {
    const spec = fire((candidate) => candidate.kind !== "ignoreTerminate" && faultTarget(candidate) === method)
    return spec && { kind: spec.kind, delayMs: spec.delayMs ?? 0 }
  }

  const heal = () => {
    active = []
    const released = release
    healSignal = new Promise<void>((resolve) => { release = resolve })
    released()
  }

  for (const spec of initial) inject(spec)
  return {
    inject,
    take,
    resistTerminate: () => fire((spec) => spec.kind === "ignoreTerminate") !== undefined,
    ignoresTerminate: () => active.some((fault) => fault.spec.kind === "ignoreTerminate"),
    healed: () => healSignal,
    heal
  }
}

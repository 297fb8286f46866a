/**
 * Which faults the process backend can produce for real, and the check that refuses the others.
 *
 * Fault specs are the simulator's (`backends/sim/faults.ts`: one schema, one meaning of every
 * kind); this backend produces them inside real rank processes. Call faults are fault points in
 * the rank's serving loop (rank-faults.ts): `throw` answers a ModelError, `slow` waits `delayMs`
 * of wall-clock time, `hang` stops answering until a heal or a kill, `crashBeforeApply` /
 * `crashAfterApply` / `crashDuringShutdown` end the process with `process.exit(1)`, `dropReply`
 * and `duplicateReply` lose or repeat a reply, `oomOnWake` answers OutOfMemory to a wake.
 * `ignoreTerminate` installs a SIGTERM handler that ignores the signal.
 *
 * `unkillable` cannot exist here: SIGKILL always ends a process, so a spec asking for it is
 * refused with `UnsupportedFault`, never silently ignored (a test that expects an unkillable rank
 * and silently gets a killable one would pass for the wrong reason).
 */
import { Data } from "effect"
import type { WorkerMethod } from "../../core/worker.ts"
import { checkFaultSpec, type FaultKind, type FaultSpec, type InvalidFaultSpec } from "../sim/faults.ts"

/** Every fault kind a rank process can produce, exactly. */
export const processFaultKinds: ReadonlyArray<FaultKind> = [
  "throw", "hang", "slow", "crashBeforeApply", "crashAfterApply", "dropReply", "duplicateReply", "oomOnWake",
  "crashDuringShutdown", "ignoreTerminate"
]

/** Kinds that act on the process rather than on a call. */
export const processSignalFaultKinds: ReadonlyArray<FaultKind> = ["ignoreTerminate"]

/** Call fault kinds that exist for one method only; a spec may omit the method. */
const methodBoundKinds: Readonly<Partial<Record<FaultKind, WorkerMethod>>> = {
  oomOnWake: "wakeUp",
  crashDuringShutdown: "shutdown"
}

/** The method a call fault fires on. */
export const faultTarget = (spec: FaultSpec): WorkerMethod | undefined => spec.method ?? methodBoundKinds[spec.kind]

/** A well-formed fault this backend cannot produce. */
export class UnsupportedFault extends Data.TaggedError("UnsupportedFault")<{
  readonly kind: string
  readonly backend: string
  readonly why: string
}> {
  override get message() { return `the ${this.backend} backend cannot produce fault '${this.kind}': ${this.why}` }
}

const unsupportedWhy: Readonly<Record<string, string>> = {
  unkillable: "SIGKILL always ends an OS process, so a rank that survives it cannot be made real"
}

/** Checks a spec's shape and rank (the simulator's rules), then that this backend can produce it. */
export const checkProcessFault = (spec: FaultSpec, worldSize: number): InvalidFaultSpec | UnsupportedFault | undefined => {
  const invalid = checkFaultSpec(spec, worldSize)
  if (invalid) return invalid
  if (processFaultKinds.includes(spec.kind)) return undefined
  return new UnsupportedFault({ kind: spec.kind, backend: "process", why: unsupportedWhy[spec.kind] ?? "not implemented for rank processes" })
}

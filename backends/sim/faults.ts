/**
 * The fault plan of the simulated cluster, as data.
 *
 * A scenario declares which rank misbehaves, in which method, how, and how often. The plan is
 * plain JSON (decoded with `FaultSpecSchema`, whose errors name the field), so a failing run can
 * be written down and replayed. At run time the plan lives in a `FaultBook`: the rank hosts of
 * the simulated transport ask it, call by call, whether a fault fires, and it counts what fired
 * for reports.
 *
 * Fault model. Call faults act on one call of one method on one rank:
 * - `throw`: the rank answers a definite `ModelError` and applies nothing;
 * - `hang`: the rank never answers and blocks its later calls, until the faults are healed
 *   (then the call applies late) or the rank is killed;
 * - `slow`: the rank waits `delayMs` of virtual time, then applies and answers normally;
 * - `crashBeforeApply` / `crashAfterApply`: the rank process exits with code 1 before or after
 *   applying the call, without answering; the caller cannot tell which (indefinite).
 * Signal faults act on the rank process: `ignoreTerminate` ignores SIGTERM, `unkillable`
 * survives SIGTERM and SIGKILL (a process stuck in the kernel, holding its GPU).
 */
import { Data, Result, Schema, SchemaIssue } from "effect"
import { assert } from "../../core/assert.ts"
import { workerMethods, type WorkerMethod } from "../../core/worker.ts"

export const callFaultKinds = ["throw", "hang", "crashBeforeApply", "crashAfterApply", "slow"] as const
export const signalFaultKinds = ["ignoreTerminate", "unkillable"] as const
export const faultKinds = [...callFaultKinds, ...signalFaultKinds] as const
export type CallFaultKind = (typeof callFaultKinds)[number]
export type SignalFaultKind = (typeof signalFaultKinds)[number]
export type FaultKind = (typeof faultKinds)[number]

/** One fault of the plan. `count` absent means every matching call (or signal), forever. */
export interface FaultSpec {
  readonly rank: number
  readonly method?: WorkerMethod | undefined
  readonly kind: FaultKind
  readonly count?: number | undefined
  /** Virtual milliseconds a `slow` call waits before applying. */
  readonly delayMs?: number | undefined
}

/** A call fault as the book hands it out: what the rank host must do with this call. */
export interface CallFault {
  readonly kind: CallFaultKind
  readonly delayMs: number
}

/** How many times one (rank, method, kind) fired; `method` is null for signal faults. */
export interface FaultCount {
  readonly rank: number
  readonly method: WorkerMethod | null
  readonly kind: FaultKind
  readonly fired: number
}

/** A fault plan entry that is malformed: `field` is its path, `rule` what it broke. */
export class InvalidFaultSpec extends Data.TaggedError("InvalidFaultSpec")<{
  readonly field: string
  readonly rule: string
}> {
  override get message() { return `invalid fault spec: ${this.field}: ${this.rule}` }
}

const isCallFaultKind = (kind: FaultKind): kind is CallFaultKind =>
  (callFaultKinds as ReadonlyArray<string>).includes(kind)

/** The rules that span fields: which kinds need a method, and `delayMs` only (and always) for slow. */
const crossFieldIssues = (spec: FaultSpec): ReadonlyArray<Schema.FilterIssue> => {
  const issues: Array<Schema.FilterIssue> = []
  if (isCallFaultKind(spec.kind) && spec.method === undefined) {
    issues.push({ path: ["method"], issue: `required for kind ${spec.kind}` })
  }
  if (!isCallFaultKind(spec.kind) && spec.method !== undefined) {
    issues.push({ path: ["method"], issue: `not used by kind ${spec.kind}, which acts on the rank process` })
  }
  if (spec.kind === "slow" && spec.delayMs === undefined) issues.push({ path: ["delayMs"], issue: "required for kind slow" })
  if (spec.kind !== "slow" && spec.delayMs !== undefined) issues.push({ path: ["delayMs"], issue: "only used by kind slow" })
  return issues
}

/** Decodes one fault plan entry from JSON; unknown keys are refused by `decodeFaultSpec`. */
export const FaultSpecSchema = Schema.Struct({
  rank: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  method: Schema.optionalKey(Schema.Literals(workerMethods)),
  kind: Schema.Literals(faultKinds),
  count: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  delayMs: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))
}).check(Schema.makeFilter(crossFieldIssues))

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const toInvalidFaultSpec = (issue: SchemaIssue.Issue): InvalidFaultSpec => {
  const [first] = formatter(issue).issues
  const field = first?.path?.map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")
  return new InvalidFaultSpec({ field: field && field.length > 0 ? field : "(fault)", rule: first?.message ?? "invalid" })
}

/** Decodes a fault plan entry from unknown JSON; never throws. */
export const decodeFaultSpec = (input: unknown): Result.Result<FaultSpec, InvalidFaultSpec> => {
  const decoded = Schema.decodeUnknownResult(FaultSpecSchema)(input, { onExcessProperty: "error" })
  return Result.isFailure(decoded) ? Result.fail(toInvalidFaultSpec(decoded.failure.issue)) : Result.succeed(decoded.success)
}

/**
 * Checks a spec built in code (the type cannot express the cross-field rules) against the same
 * schema, and its rank against the cluster's world size.
 */
export const checkFaultSpec = (spec: FaultSpec, worldSize: number): InvalidFaultSpec | undefined => {
  const decoded = decodeFaultSpec(stripUndefined(spec))
  if (Result.isFailure(decoded)) return decoded.failure
  if (spec.rank >= worldSize) return new InvalidFaultSpec({ field: "rank", rule: `must be below the world size ${worldSize}` })
  return undefined
}

const stripUndefined = (spec: FaultSpec): Record<string, unknown> =>
  Object.fromEntries(Object.entries(spec).filter(([, value]) => value !== undefined))

// ---------------------------------------------------------------------------------------------
// The book: active faults with their remaining counts, and what fired.
// ---------------------------------------------------------------------------------------------

/**
 * The mutable fault state of one simulated cluster. Only the cluster's own fibers touch it, one
 * step at a time (JavaScript runs one fiber step at a time), so no lock is needed.
 */
export interface FaultBook {
  /** Adds a fault; the caller has checked it with `checkFaultSpec`. */
  readonly inject: (spec: FaultSpec) => void
  /** The first active call fault matching (rank, method), its count taken down by one. */
  readonly take: (rank: number, method: WorkerMethod) => CallFault | undefined
  /** Whether a SIGTERM to `rank` would be ignored now (by `ignoreTerminate` or `unkillable`). */
  readonly ignoresTerminate: (rank: number) => boolean
  /** Whether a SIGKILL to `rank` would be survived now. */
  readonly isUnkillable: (rank: number) => boolean
  /**
   * Asks whether the rank resists `signal`: the fault that resists (its count taken down and its
   * firing counted), or undefined when the signal takes effect.
   */
  readonly resist: (rank: number, signal: "terminate" | "kill") => SignalFaultKind | undefined
  /** Clears every active fault; counts of what fired are kept for the report. */
  readonly heal: () => void
  /** What fired so far, ordered by rank, then method, then kind. */
  readonly counts: () => ReadonlyArray<FaultCount>
}

interface ActiveFault {
  readonly spec: FaultSpec
  /** Remaining firings; Infinity when the spec has no count. */
  remaining: number
}

/** Builds an empty book for `worldSize` ranks, then adds `faults`. */
export const makeFaultBook = (worldSize: number, faults: ReadonlyArray<FaultSpec> = []): FaultBook => {
  assert(Number.isInteger(worldSize) && worldSize >= 1, "a fault book covers at least one rank")
  let active: Array<ActiveFault> = []
  const fired = new Map<string, FaultCount>()

  const inject = (spec: FaultSpec): void => {
    assert(spec.rank >= 0 && spec.rank < worldSize, `fault rank ${spec.rank} lies within the world size ${worldSize}`)
    active.push({ spec, remaining: spec.count ?? Number.POSITIVE_INFINITY })
  }

  const record = (rank: number, method: WorkerMethod | null, kind: FaultKind): void => {
    const key = `${rank}|${method ?? ""}|${kind}`
    const previous = fired.get(key)
    fired.set(key, { rank, method, kind, fired: (previous?.fired ?? 0) + 1 })
  }

  /** Takes one firing of `fault`; it leaves the book when its count is spent. */
  const consume = (fault: ActiveFault): void => {
    assert(fault.remaining > 0, "only a fault with firings left is consumed")
    fault.remaining -= 1
    if (fault.remaining === 0) active = active.filter((other) => other !== fault)
  }

  const find = (rank: number, kind: FaultKind): ActiveFault | undefined =>
    active.find((fault) => fault.spec.rank === rank && fault.spec.kind === kind)

  const take = (rank: number, method: WorkerMethod): CallFault | undefined => {
    const fault = active.find((candidate) =>
      candidate.spec.rank === rank && candidate.spec.method === method && isCallFaultKind(candidate.spec.kind))
    if (fault === undefined) return undefined
    consume(fault)
    record(rank, method, fault.spec.kind)
    return { kind: fault.spec.kind as CallFaultKind, delayMs: fault.spec.delayMs ?? 0 }
  }

  // SIGTERM is resisted by either signal fault, SIGKILL only by `unkillable`.
  const resist = (rank: number, signal: "terminate" | "kill"): SignalFaultKind | undefined => {
    const fault = (signal === "terminate" ? find(rank, "ignoreTerminate") : undefined) ?? find(rank, "unkillable")
    if (fault === undefined) return undefined
    consume(fault)
    record(rank, null, fault.spec.kind)
    return fault.spec.kind as SignalFaultKind
  }

  const counts = (): ReadonlyArray<FaultCount> =>
    [...fired.values()].sort((a, b) =>
      a.rank - b.rank || (a.method ?? "").localeCompare(b.method ?? "") || a.kind.localeCompare(b.kind))

  for (const spec of faults) inject(spec)
  return {
    inject,
    take,
    ignoresTerminate: (rank) => find(rank, "ignoreTerminate") !== undefined || find(rank, "unkillable") !== undefined,
    isUnkillable: (rank) => find(rank, "unkillable") !== undefined,
    resist,
    heal: () => { active = [] },
    counts
  }
}

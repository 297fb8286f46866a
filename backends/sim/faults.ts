/**
 * The fault plan of the simulated cluster, as data.
 *
 * A scenario declares which rank misbehaves, in which method, how, and how often: counted specs
 * (`FaultSpec`: "rank 1 throws in addLora twice") and probabilistic rules (`FaultRule`: "every
 * rank drops 5% of its execute replies"). Both are plain JSON, decoded with schemas whose errors
 * name the field, so a failing run can be written down and replayed. At run time the plan lives
 * in a `FaultBook` (fault-book.ts), which the rank hosts ask, call by call, whether a fault fires.
 *
 * Fault model. Call faults act on one call of one method on one rank:
 * - `throw`: the rank answers a definite `ModelError` and applies nothing;
 * - `hang`: the rank never answers and blocks its later calls, until the faults are healed
 *   (then the call applies late) or the rank is killed;
 * - `slow`: the rank waits `delayMs` of virtual time, then applies and answers normally;
 * - `crashBeforeApply` / `crashAfterApply`: the rank process exits with code 1 before or after
 *   applying the call, without answering; the caller cannot tell which (indefinite);
 * - `dropReply`: the rank applies the call and its reply is lost (the caller sees a timeout);
 * - `duplicateReply`: the rank applies the call once and sends its reply twice;
 * - `oomOnWake` (wakeUp only): the wake finds the device full, answers `OutOfMemory`, and the
 *   rank stays asleep;
 * - `crashDuringShutdown` (shutdown only): the rank exits with code 1 while handling the
 *   graceful shutdown, before replying: a crash no signal caused.
 * Signal faults act on the rank process: `ignoreTerminate` ignores SIGTERM, `unkillable`
 * survives SIGTERM and SIGKILL (a process stuck in the kernel, holding its GPU).
 */
import { Data, Result, Schema, SchemaIssue } from "effect"
import { workerMethods, type WorkerMethod } from "../../core/worker.ts"

export const callFaultKinds = [
  "throw", "hang", "crashBeforeApply", "crashAfterApply", "slow", "dropReply", "duplicateReply", "oomOnWake",
  "crashDuringShutdown"
] as const
export const signalFaultKinds = ["ignoreTerminate", "unkillable"] as const
export const faultKinds = [...callFaultKinds, ...signalFaultKinds] as const
export type CallFaultKind = (typeof callFaultKinds)[number]
export type SignalFaultKind = (typeof signalFaultKinds)[number]
export type FaultKind = (typeof faultKinds)[number]

/**
 * Call faults that exist for one method only: a spec or rule may name that method or none, and
 * either way it fires on that method alone.
 */
export const methodBoundFaultKinds: Readonly<Partial<Record<FaultKind, WorkerMethod>>> = {
  oomOnWake: "wakeUp",
  crashDuringShutdown: "shutdown"
}

/** One counted fault of the plan. `count` absent means every matching call (or signal), forever. */
export interface FaultSpec {
  readonly rank: number
  readonly method?: WorkerMethod | undefined
  readonly kind: FaultKind
  readonly count?: number | undefined
  /** Virtual milliseconds a `slow` call waits before applying. */
  readonly delayMs?: number | undefined
}

/**
 * A probabilistic fault: each matching call (or signal) fires it with `probability`, drawn from
 * the cluster's `faults` stream. A call fault without a method matches every method; `ranks`
 * absent means every rank.
 */
export interface FaultRule {
  readonly kind: FaultKind
  readonly method?: WorkerMethod | undefined
  readonly ranks?: ReadonlyArray<number> | undefined
  readonly probability: number
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

export const isCallFaultKind = (kind: FaultKind): kind is CallFaultKind =>
  (callFaultKinds as ReadonlyArray<string>).includes(kind)

/** The method a fault of `kind` fires on when its entry names `method` (or none). */
export const faultMethod = (kind: FaultKind, method: WorkerMethod | undefined): WorkerMethod | undefined =>
  method ?? methodBoundFaultKinds[kind]

// ---------------------------------------------------------------------------------------------
// Decoding: the rules that span fields, shared by specs and rules.
// ---------------------------------------------------------------------------------------------

interface EntryFields {
  readonly kind: FaultKind
  readonly method?: WorkerMethod | undefined
  readonly delayMs?: number | undefined
}

/**
 * Which kinds take which method, and `delayMs` only (and always) for slow. `methodRequired` is
 * true for counted specs: a rule without a method means "any method", a spec must say which.
 */
const entryIssues = (entry: EntryFields, methodRequired: boolean): Array<Schema.FilterIssue> => {
  const issues: Array<Schema.FilterIssue> = []
  const bound = methodBoundFaultKinds[entry.kind]
  if (bound !== undefined && entry.method !== undefined && entry.method !== bound) {
    issues.push({ path: ["method"], issue: `kind ${entry.kind} acts on ${bound} only` })
  }
  if (methodRequired && bound === undefined && isCallFaultKind(entry.kind) && entry.method === undefined) {
    issues.push({ path: ["method"], issue: `required for kind ${entry.kind}` })
  }
  if (!isCallFaultKind(entry.kind) && entry.method !== undefined) {
    issues.push({ path: ["method"], issue: `not used by kind ${entry.kind}, which acts on the rank process` })
  }
  if (entry.kind === "slow" && entry.delayMs === undefined) issues.push({ path: ["delayMs"], issue: "required for kind slow" })
  if (entry.kind !== "slow" && entry.delayMs !== undefined) issues.push({ path: ["delayMs"], issue: "only used by kind slow" })
  return issues
}

const Rank = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const DelayMs = Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))

/** Decodes one counted fault from JSON; unknown keys are refused by `decodeFaultSpec`. */
export const FaultSpecSchema = Schema.Struct({
  rank: Rank,
  method: Schema.optionalKey(Schema.Literals(workerMethods)),
  kind: Schema.Literals(faultKinds),
  count: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  delayMs: DelayMs
}).check(Schema.makeFilter((spec) => entryIssues(spec, true)))

/** Decodes one probabilistic fault rule from JSON; unknown keys are refused by `decodeFaultRule`. */
export const FaultRuleSchema = Schema.Struct({
  kind: Schema.Literals(faultKinds),
  method: Schema.optionalKey(Schema.Literals(workerMethods)),
  ranks: Schema.optionalKey(Schema.UniqueArray(Rank).check(Schema.isMinLength(1))),
  probability: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  delayMs: DelayMs
}).check(Schema.makeFilter((rule) => entryIssues(rule, false)))

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const toInvalidFaultSpec = (issue: SchemaIssue.Issue): InvalidFaultSpec => {
  const [first] = formatter(issue).issues
  const field = first?.path?.map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")
  return new InvalidFaultSpec({ field: field && field.length > 0 ? field : "(fault)", rule: first?.message ?? "invalid" })
}

/** Decodes a counted fault from unknown JSON; never throws. */
export const decodeFaultSpec = (input: unknown): Result.Result<FaultSpec, InvalidFaultSpec> => {
  const decoded = Schema.decodeUnknownResult(FaultSpecSchema)(input, { onExcessProperty: "error" })
  return Result.isFailure(decoded) ? Result.fail(toInvalidFaultSpec(decoded.failure.issue)) : Result.succeed(decoded.success)
}

/** Decodes a fault rule from unknown JSON; never throws. */
export const decodeFaultRule = (input: unknown): Result.Result<FaultRule, InvalidFaultSpec> => {
  const decoded = Schema.decodeUnknownResult(FaultRuleSchema)(input, { onExcessProperty: "error" })
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

/** Checks a rule built in code against its schema, and its ranks against the world size. */
export const checkFaultRule = (rule: FaultRule, worldSize: number): InvalidFaultSpec | undefined => {
  const decoded = decodeFaultRule(stripUndefined(rule))
  if (Result.isFailure(decoded)) return decoded.failure
  const outside = (rule.ranks ?? []).findIndex((rank) => rank >= worldSize)
  if (outside >= 0) return new InvalidFaultSpec({ field: `ranks.${outside}`, rule: `must be below the world size ${worldSize}` })
  return undefined
}

const stripUndefined = (entry: object): Record<string, unknown> =>
  Object.fromEntries(Object.entries(entry).filter(([, value]) => value !== undefined))

/**
 * The scenario file: a public contract for scripted runs (`rankwise simulate --scenario FILE`).
 *
 * A scenario names a cluster (ranks, seed, model), a fault plan, and steps that act on the engine
 * or the world. Later features extend it; existing names keep their meaning. Decoding never
 * throws: a malformed scenario is an `InvalidScenario` naming the field (for example
 * `steps.3.level`), which the CLI turns into exit code 2.
 */
import { Data, Result, Schema, SchemaIssue } from "effect"
import { memoryTags, workerMethods } from "../../core/worker.ts"
import { faultKinds, type FaultSpec } from "../../backends/sim/faults.ts"

export class InvalidScenario extends Data.TaggedError("InvalidScenario")<{
  readonly field: string
  readonly rule: string
}> {
  override get message() { return `invalid scenario: ${this.field}: ${this.rule}` }
}

const Int = Schema.Int
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const TimeoutMs = Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))

const Fault = Schema.Struct({
  rank: NonNegativeInt,
  method: Schema.optionalKey(Schema.Literals(workerMethods)),
  kind: Schema.Literals(faultKinds),
  count: Schema.optionalKey(PositiveInt),
  delayMs: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))
})

const Adapter = Schema.Struct({ id: PositiveInt, name: Schema.String, path: Schema.optionalKey(Schema.String) })

/**
 * What a step must produce, for scenarios that double as tests: `ok`, the error's `_tag`, and the
 * per-rank outcome tags in rank order. A mismatch is reported, and `simulate` exits 1.
 */
const StepExpectation = Schema.Struct({
  ok: Schema.optionalKey(Schema.Boolean),
  error: Schema.optionalKey(Schema.String),
  outcomes: Schema.optionalKey(Schema.Array(Schema.String))
})
export type StepExpectation = typeof StepExpectation.Type

const step = <const Op extends string, F extends Schema.Struct.Fields>(op: Op, fields: F) =>
  Schema.Struct({ op: Schema.Literal(op), timeoutMs: TimeoutMs, expect: Schema.optionalKey(StepExpectation), ...fields })

export const Step = Schema.Union([
  step("addLora", { adapter: Adapter }),
  step("removeLora", { adapterId: PositiveInt }),
  step("pinLora", { adapterId: PositiveInt }),
  step("listLoras", {}),
  step("submit", { request: Schema.Unknown, wait: Schema.optionalKey(Schema.Boolean) }),
  step("await", { requestId: Schema.String }),
  step("abort", { requestId: Schema.String }),
  step("sleep", { level: Schema.Literals([1, 2]) }),
  step("wakeUp", { tags: Schema.Array(Schema.Literals(memoryTags)) }),
  step("checkHealth", {}),
  step("close", {}),
  step("advance", { ms: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)) }),
  step("heal", {}),
  step("inject", { fault: Fault }),
  step("kill", { rank: NonNegativeInt }),
  // Real processes only: SIGSTOP and SIGCONT. A backend without them fails the step, typed.
  step("stop", { rank: NonNegativeInt }),
  step("resume", { rank: NonNegativeInt })
])
export type Step = typeof Step.Type

const Model = Schema.Struct({
  lora: Schema.optionalKey(Schema.Boolean),
  deviceBytes: Schema.optionalKey(NonNegativeInt),
  weightsBytes: Schema.optionalKey(NonNegativeInt),
  kvCacheBytes: Schema.optionalKey(NonNegativeInt),
  loraBytes: Schema.optionalKey(NonNegativeInt),
  invalidAdapterIds: Schema.optionalKey(Schema.Array(PositiveInt)),
  stepMs: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))
})

export const Scenario = Schema.Struct({
  ranks: Int.check(Schema.isBetween({ minimum: 1, maximum: 64 })),
  seed: Schema.optionalKey(Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffff_ffff }))),
  outputRank: Schema.optionalKey(NonNegativeInt),
  model: Schema.optionalKey(Model),
  faults: Schema.optionalKey(Schema.Array(Fault)),
  engine: Schema.optionalKey(Schema.Struct({
    controlTimeoutMs: TimeoutMs,
    executeTimeoutMs: TimeoutMs,
    queueCapacity: Schema.optionalKey(PositiveInt),
    batchSizeMax: Schema.optionalKey(PositiveInt)
  })),
  steps: Schema.Array(Step),
  /** The ground truth the run must end in. */
  expectFinal: Schema.optionalKey(Schema.Struct({
    engineState: Schema.optionalKey(Schema.String),
    ranks: Schema.optionalKey(Schema.Array(Schema.Struct({
      rank: NonNegativeInt,
      alive: Schema.optionalKey(Schema.Boolean),
      asleep: Schema.optionalKey(Schema.Boolean),
      loras: Schema.optionalKey(Schema.Array(PositiveInt))
    })))
  }))
})
export type Scenario = typeof Scenario.Type

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Decodes a scenario, checking cross-field rules the schema cannot (ranks in range). */
export const decodeScenario = (input: unknown): Result.Result<Scenario, InvalidScenario> => {
  const decoded = Schema.decodeUnknownResult(Scenario)(input, { onExcessProperty: "error" })
  if (Result.isFailure(decoded)) {
    const [first] = formatter(decoded.failure.issue).issues
    const field = first?.path?.map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")
    return Result.fail(new InvalidScenario({ field: field || "(scenario)", rule: first?.message ?? "invalid" }))
  }
  const scenario = decoded.success
  const rankOutOfRange = (rank: number) => rank >= scenario.ranks
  const broken =
    (scenario.outputRank !== undefined && rankOutOfRange(scenario.outputRank) && ["outputRank", "must be below ranks"]) ||
    checkFaults(scenario.faults ?? [], "faults", scenario.ranks) ||
    scenario.steps.map((step, index) =>
      ((step.op === "kill" || step.op === "stop" || step.op === "resume") && rankOutOfRange(step.rank) && [`steps.${index}.rank`, "must be below ranks"]) ||
      (step.op === "inject" && checkFaults([step.fault], `steps.${index}.fault`, scenario.ranks))
    ).find(Boolean)
  return broken ? Result.fail(new InvalidScenario({ field: broken[0], rule: broken[1] })) : Result.succeed(scenario)
}

const callKinds: ReadonlyArray<string> = ["throw", "hang", "crashBeforeApply", "crashAfterApply", "slow"]

const checkFaults = (faults: ReadonlyArray<FaultSpec>, path: string, ranks: number): readonly [string, string] | undefined => {
  for (const [index, fault] of faults.entries()) {
    const at = path.endsWith("fault") ? path : `${path}.${index}`
    if (fault.rank >= ranks) return [`${at}.rank`, "must be below ranks"]
    if (callKinds.includes(fault.kind) && fault.method === undefined) return [`${at}.method`, `a ${fault.kind} fault names a method`]
  }
  return undefined
}

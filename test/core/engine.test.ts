// Goal: the Engine keeps its contract under rank faults: no silent divergence (CONS-1), partial
// failures compensated and reported (CONS-2), indefinite outcomes believed as "maybe" (CONS-3),
// exactly one terminal outcome per request (SHUT-3), a bounded, honest, idempotent close
// (SHUT-1/2/4), clear answers from a model without LoRA (API-1) and from sleep/wake (API-2), and
// prompt failure when a rank dies.
// Method: every test builds the unmodified engine and executor over the in-process simulated
// cluster, inside a virtual-time world (test/core/engine-model.ts), so hangs and timeouts cost
// no real time. fast-check generates world sizes, fault plans (rank, method, throw | hang | slow
// | crashBeforeApply | crashAfterApply, count, delay), timeouts and operation sequences; the
// model-based tests use fast-check commands and, after every command, compare what the engine
// believes (`views`, `state`) with what the ranks really hold (`handle.truth()`).
import { fc, test } from "@fast-check/vitest"
import { Effect, type Exit, Fiber } from "effect"
import { describe, expect } from "vitest"
import type { FaultSpec } from "../../backends/sim/faults.ts"
import type { CollectiveResult } from "../../core/control.ts"
import type { CloseReport, EngineState, RequestHandle } from "../../core/engine.ts"
import type { MemoryTag, WorkerMethod } from "../../core/worker.ts"
import {
  describeSnapshot, dishonestRanks, failureOf, type Harness, safeJson, silentDivergence, type Snapshot, tagOf,
  valueOf, withHarness
} from "./engine-model.ts"

// ---------------------------------------------------------------------------------------------
// Generators and small helpers
// ---------------------------------------------------------------------------------------------

const engineConfig = { executeTimeoutMs: 300 }
const adapterOf = (id: number) => ({ id, name: `adapter-${id}` })
const ranksOf = (worldSize: number) => Array.from({ length: worldSize }, (_, rank) => rank)
const seedArb = fc.nat({ max: 0xffff_ffff })
/** Runs per property; `ENGINE_TEST_RUNS_SCALE=20` turns the file into a soak run. */
const runs = (numRuns: number) => Math.max(1, Math.round(numRuns * Number(process.env.ENGINE_TEST_RUNS_SCALE ?? 1)))

interface RequestShape {
  readonly outputType: "image" | "video" | "latents"
  readonly size: number
  readonly frames: number
  readonly steps: number
  readonly outputsPerPrompt: number
  readonly negative: boolean
  readonly lora: number | undefined
}

const requestShapeArb = (withLora: boolean): fc.Arbitrary<RequestShape> =>
  fc.record({
    outputType: fc.constantFrom("image" as const, "video" as const, "latents" as const),
    size: fc.constantFrom(64, 128),
    frames: fc.integer({ min: 1, max: 3 }),
    steps: fc.integer({ min: 1, max: 30 }),
    outputsPerPrompt: fc.integer({ min: 1, max: 2 }),
    negative: fc.boolean(),
    lora: withLora ? fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }) : fc.constant(undefined)
  })

/** A request input without undefined keys (the decoder refuses unknown and undefined ones). */
const requestOf = (requestId: string, shape: RequestShape): Record<string, unknown> => ({
  requestId,
  prompt: `prompt ${requestId}`,
  height: shape.size,
  width: shape.size,
  steps: shape.steps,
  outputsPerPrompt: shape.outputsPerPrompt,
  outputType: shape.outputType,
  ...(shape.outputType === "video" ? { frames: shape.frames, fps: 8 } : {}),
  ...(shape.negative ? { negativePrompt: "blurry", guidanceScale: 5 } : {}),
  ...(shape.lora !== undefined ? { lora: adapterOf(shape.lora) } : {})
})

const plainImage: RequestShape = { outputType: "image", size: 64, frames: 1, steps: 1, outputsPerPrompt: 1, negative: false, lora: undefined }

const describeShape = (shape: RequestShape) =>
  `${shape.outputType} ${shape.size}px${shape.outputType === "video" ? ` x${shape.frames}` : ""} ${shape.steps} steps` +
  `${shape.outputsPerPrompt > 1 ? ` k=${shape.outputsPerPrompt}` : ""}${shape.negative ? " cfg" : ""}` +
  `${shape.lora !== undefined ? ` lora ${shape.lora}` : ""}`

type CallKind = "throw" | "hang" | "slow" | "crashBeforeApply" | "crashAfterApply"

/** A call fault on one of `methods`; crashes are rarer, since they end the interesting part of a run. */
const callFaultArb = (worldSize: number, methods: ReadonlyArray<WorkerMethod>, kinds?: ReadonlyArray<CallKind>) =>
  fc.record({
    rank: fc.integer({ min: 0, max: worldSize - 1 }),
    method: fc.constantFrom(...methods),
    kind: kinds
      ? fc.constantFrom(...kinds)
      : fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom<CallKind>("throw", "hang", "slow") },
        { weight: 1, arbitrary: fc.constantFrom<CallKind>("crashBeforeApply", "crashAfterApply") }
      ),
    count: fc.integer({ min: 1, max: 2 }),
    delayMs: fc.integer({ min: 10, max: 1_000 })
  }).map(({ delayMs, ...fault }): FaultSpec => (fault.kind === "slow" ? { ...fault, delayMs } : fault))

const describeFault = (fault: FaultSpec) =>
  `rank ${fault.rank}${fault.method ? ` ${fault.method}` : ""} ${fault.kind}` +
  `${fault.delayMs !== undefined ? ` ${fault.delayMs}ms` : ""}${fault.count !== undefined && fault.count > 1 ? ` x${fault.count}` : ""}`

/** The error of a failed collective: ControlFailed and CollectiveRpcError both carry `result`. */
const resultOf = (error: unknown): CollectiveResult<unknown, unknown> => {
  const result = (error as { result?: CollectiveResult<unknown, unknown> }).result
  if (result === undefined) throw new Error(`expected an error with per-rank outcomes, got ${safeJson(error)}`)
  return result
}

const errorTagOf = (outcome: CollectiveResult<unknown, unknown>["outcomes"][number]) =>
  outcome._tag === "Failed" ? String((outcome.error as { _tag?: unknown })._tag) : undefined

interface ControlFailedShape {
  readonly _tag: "ControlFailed"
  readonly operation: string
  readonly result: CollectiveResult<unknown, unknown>
  readonly compensation: { readonly restoredRanks: ReadonlyArray<number>; readonly unrestoredRanks: ReadonlyArray<number>; readonly ranks: ReadonlyArray<number> } | undefined
  readonly divergentRanks: ReadonlyArray<number>
}

const asControlFailed = (error: unknown): ControlFailedShape => {
  expect((error as { _tag?: unknown })._tag).toBe("ControlFailed")
  return error as ControlFailedShape
}

const stateOf = (h: Harness): EngineState => h.snapshot().state

// ---------------------------------------------------------------------------------------------
// Model-based operation sequences (CONS-1 and honest beliefs)
// ---------------------------------------------------------------------------------------------

interface Model {
  readonly worldSize: number
  /** A rank died: the engine is failed and every later operation is refused. */
  failed: boolean
  requests: number
}

interface Real {
  readonly h: Harness
  readonly requestIds: Array<string>
  readonly invariant: (snapshot: Snapshot) => string | undefined
  /** What happened so far, one line per command, for failure messages. */
  readonly log: Array<string>
}

const verify = (real: Real, model: Model, line: string) => {
  const snapshot = real.h.snapshot()
  real.log.push(`${line} → ${snapshot.state}`)
  if (snapshot.state === "failed") model.failed = true
  const violation = real.invariant(snapshot)
  if (violation !== undefined) {
    throw new Error(`${violation}\n  after: ${real.log.join("\n         ")}\n  now: ${describeSnapshot(snapshot)}`)
  }
}

type ControlOp =
  | { readonly op: "addLora"; readonly id: number }
  | { readonly op: "removeLora"; readonly id: number }
  | { readonly op: "pinLora"; readonly id: number }
  | { readonly op: "listLoras" }
  | { readonly op: "sleep"; readonly level: 1 | 2 }
  | { readonly op: "wakeUp"; readonly tags: ReadonlyArray<MemoryTag> }
  | { readonly op: "checkHealth" }

const describeOp = (op: ControlOp) => {
  switch (op.op) {
    case "addLora":
    case "removeLora":
    case "pinLora":
      return `${op.op}(${op.id})`
    case "sleep":
      return `sleep(${op.level})`
    case "wakeUp":
      return `wakeUp(${op.tags.join(",")})`
    default:
      return `${op.op}()`
  }
}

const controlEffect = (h: Harness, op: ControlOp, timeoutMs: number): Effect.Effect<unknown, unknown> => {
  const options = { timeoutMs }
  switch (op.op) {
    case "addLora": return h.engine.addLora(adapterOf(op.id), options)
    case "removeLora": return h.engine.removeLora(op.id, options)
    case "pinLora": return h.engine.pinLora(op.id, options)
    case "listLoras": return h.engine.listLoras(options)
    case "sleep": return h.engine.sleep(op.level, options)
    case "wakeUp": return h.engine.wakeUp(op.tags, options)
    case "checkHealth": return h.engine.checkHealth(options)
  }
}

/** The method an operation's compensation sends, so fault plans hit undo paths often. */
const undoMethodOf = (op: ControlOp): WorkerMethod => {
  switch (op.op) {
    case "addLora": return "removeLora"
    case "removeLora": return "addLora"
    case "sleep": return "wakeUp"
    case "wakeUp": return "sleep"
    default: return op.op
  }
}

const controlMethods: ReadonlyArray<WorkerMethod> = [
  "addLora", "removeLora", "pinLora", "listLoras", "sleep", "wakeUp", "checkHealth", "execute"
]

class ControlCommand implements fc.Command<Model, Real> {
  constructor(readonly op: ControlOp, readonly timeoutMs: number, readonly faults: ReadonlyArray<FaultSpec>) {}
  check(model: Readonly<Model>) { return !model.failed }
  run(model: Model, real: Real) {
    for (const fault of this.faults) valueOf(real.h.run(real.h.handle.inject(fault)))
    const exit = real.h.run(controlEffect(real.h, this.op, this.timeoutMs))
    verify(real, model, `${this.toString()}: ${tagOf(exit)}`)
  }
  toString() {
    const faults = this.faults.length > 0 ? `[${this.faults.map(describeFault).join("; ")}]` : ""
    return `${describeOp(this.op)}${faults} ${this.timeoutMs}ms`
  }
}

class SubmitCommand implements fc.Command<Model, Real> {
  constructor(readonly shape: RequestShape) {}
  check(model: Readonly<Model>) { return !model.failed }
  run(model: Model, real: Real) {
    const requestId = `q${model.requests++}`
    real.requestIds.push(requestId)
    const exit = real.h.run(real.h.engine.enqueue(requestOf(requestId, this.shape)))
    verify(real, model, `${this.toString()}: ${tagOf(exit)}`)
  }
  toString() { return `submit(${describeShape(this.shape)})` }
}

class AbortCommand implements fc.Command<Model, Real> {
  constructor(readonly index: number) {}
  check(model: Readonly<Model>) { return !model.failed && model.requests > 0 }
  run(model: Model, real: Real) {
    const requestId = real.requestIds[this.index % real.requestIds.length]
    const exit = real.h.run(real.h.engine.abort(requestId))
    verify(real, model, `abort(${requestId}): ${tagOf(exit)}`)
  }
  toString() { return `abort(#${this.index})` }
}

class HealCommand implements fc.Command<Model, Real> {
  check(model: Readonly<Model>) { return !model.failed }
  run(model: Model, real: Real) {
    valueOf(real.h.run(real.h.handle.heal()))
    verify(real, model, "heal")
  }
  toString() { return "heal" }
}

/** Lets virtual time pass, so slow calls finish late and queued batches run. */
class AdvanceCommand implements fc.Command<Model, Real> {
  constructor(readonly ms: number) {}
  check(model: Readonly<Model>) { return !model.failed }
  run(model: Model, real: Real) {
    real.h.advance(this.ms)
    verify(real, model, `advance(${this.ms}ms)`)
  }
  toString() { return `advance(${this.ms}ms)` }
}

const controlOpArb: fc.Arbitrary<ControlOp> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }).map((id): ControlOp => ({ op: "addLora", id })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }).map((id): ControlOp => ({ op: "removeLora", id })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((id): ControlOp => ({ op: "pinLora", id })) },
  { weight: 2, arbitrary: fc.constant<ControlOp>({ op: "listLoras" }) },
  { weight: 2, arbitrary: fc.constantFrom<1 | 2>(1, 2).map((level): ControlOp => ({ op: "sleep", level })) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<ReadonlyArray<MemoryTag>>(["weights", "kv_cache"], ["weights"], ["kv_cache"])
      .map((tags): ControlOp => ({ op: "wakeUp", tags }))
  },
  { weight: 2, arbitrary: fc.constant<ControlOp>({ op: "checkHealth" }) }
)

const controlCommandArb = (worldSize: number) =>
  controlOpArb.chain((op) =>
    fc.tuple(
      fc.integer({ min: 50, max: 500 }),
      fc.oneof(
        { weight: 2, arbitrary: fc.constant<ReadonlyArray<FaultSpec>>([]) },
        {
          weight: 3,
          arbitrary: fc.array(
            fc.oneof(
              callFaultArb(worldSize, [op.op]),
              callFaultArb(worldSize, [undoMethodOf(op)]),
              callFaultArb(worldSize, controlMethods)
            ),
            { minLength: 1, maxLength: 2 }
          )
        }
      )
    ).map(([timeoutMs, faults]) => new ControlCommand(op, timeoutMs, faults)))

const commandsArb = (worldSize: number) =>
  fc.commands<Model, Real>([
    controlCommandArb(worldSize),
    controlCommandArb(worldSize),
    controlCommandArb(worldSize),
    requestShapeArb(true).map((shape) => new SubmitCommand(shape)),
    fc.nat(20).map((index) => new AbortCommand(index)),
    fc.constant(new HealCommand()),
    fc.integer({ min: 1, max: 1_500 }).map((ms) => new AdvanceCommand(ms))
  ], { maxCommands: 16 })

const scenarioArb = fc.integer({ min: 2, max: 4 }).chain((worldSize) =>
  fc.record({ worldSize: fc.constant(worldSize), commands: commandsArb(worldSize), seed: seedArb }))

const runCommands = (
  scenario: { readonly worldSize: number; readonly commands: Iterable<fc.Command<Model, Real>>; readonly seed: number },
  invariant: (snapshot: Snapshot) => string | undefined
) =>
  withHarness({ seed: scenario.seed, worldSize: scenario.worldSize, engine: engineConfig }, (h) => {
    const real: Real = { h, requestIds: [], invariant, log: [] }
    verify(real, { worldSize: scenario.worldSize, failed: false, requests: 0 }, "start")
    fc.modelRun(() => ({ model: { worldSize: scenario.worldSize, failed: false, requests: 0 }, real }), scenario.commands)
  })

/** addLora(3) fails on rank 0 and its undo hangs on rank 1; released, rank 1 removes the adapter late. */
const undoTimesOutExample = {
  worldSize: 4,
  seed: 0,
  commands: [
    new ControlCommand({ op: "addLora", id: 3 }, 50, [
      { rank: 0, method: "addLora", kind: "throw", count: 1 },
      { rank: 1, method: "removeLora", kind: "hang", count: 1 }
    ]),
    new HealCommand()
  ]
}

describe("engine: no silent divergence (CONS-1)", () => {
  test.prop([scenarioArb], { numRuns: runs(100) })(
    "after every operation, a ready or asleep engine believes exactly what every alive rank holds, and ranks that really differ leave it degraded with the difference visible",
    (scenario) => runCommands(scenario, silentDivergence)
  )

  // Fails until core/control-ops.ts marks indefinite undo outcomes as "maybe" (see the regression
  // below); the counterexample found by this property runs first, so the failure is certain.
  test.prop([scenarioArb], { numRuns: runs(100), examples: [[undoTimesOutExample]] })(
    "every definite belief is true: an adapter believed held is held, a held adapter is believed held or maybe, a definite sleep level is the real one",
    (scenario) =>
      runCommands(scenario, (snapshot) => {
        if (snapshot.state !== "ready" && snapshot.state !== "asleep" && snapshot.state !== "degraded") return undefined
        const ranks = dishonestRanks(snapshot)
        return ranks.length > 0 ? `the engine holds a false definite belief about ranks ${ranks.join(", ")}` : undefined
      })
  )
})

describe("engine tests: the reference can fail", () => {
  const rank = (index: number, loras: ReadonlyArray<number>, sleepLevel: 1 | 2 | null = null) => ({
    rank: index, alive: true, loaded: true, asleep: sleepLevel !== null, sleepLevel, loras, pinned: [], usedBytes: 0, exit: null
  })
  const view = (index: number, loras: ReadonlyArray<number>, lorasMaybe: ReadonlyArray<number> = [], sleep: 0 | 1 | 2 | "maybe" = 0) =>
    ({ rank: index, loras, lorasMaybe, sleep })

  test("a ready engine whose views differ from the truth, or ranks that differ behind equal views, are reported", () => {
    expect(silentDivergence({ state: "ready", views: [view(0, [1]), view(1, [1])], truth: [rank(0, [1]), rank(1, [])] })).toMatch(/ranks 1/)
    expect(silentDivergence({ state: "asleep", views: [view(0, [], [], 1)], truth: [rank(0, [])] })).toBeDefined()
    expect(silentDivergence({ state: "asleep", views: [view(0, [], [], 1)], truth: [rank(0, [])] })).toBe("engine asleep but views differ from truth on ranks 0")
    expect(silentDivergence({ state: "degraded", views: [view(0, [1]), view(1, [1]), view(2, [])], truth: [rank(0, [1]), rank(1, []), rank(2, [])] }))
      .toMatch(/ranks 0 .* and 1/)
    expect(silentDivergence({ state: "ready", views: [view(0, []), view(1, [])], truth: [rank(0, []), rank(1, [], 1)] })).toBeDefined()
    expect(silentDivergence({ state: "ready", views: [view(0, []), view(1, [])], truth: [rank(0, []), rank(1, [], 1)] })).toBe("engine ready but views differ from truth on ranks 1")
  })

  test("uncertainty, visible differences and dead ranks are accepted", () => {
    expect(silentDivergence({ state: "degraded", views: [view(0, [1]), view(1, [], [1])], truth: [rank(0, [1]), rank(1, [])] })).toBeUndefined()
    expect(silentDivergence({ state: "degraded", views: [view(0, [1]), view(1, [])], truth: [rank(0, [1]), rank(1, [])] })).toBeUndefined()
    expect(silentDivergence({ state: "ready", views: [view(0, [2]), view(1, [2])], truth: [rank(0, [2]), rank(1, [2])] })).toBeUndefined()
    expect(silentDivergence({ state: "failed", views: [view(0, [2]), view(1, [])], truth: [rank(0, []), rank(1, [3])] })).toBeUndefined()
  })

  test("a definite belief that is false is dishonest; a maybe is not", () => {
    expect(dishonestRanks({ state: "degraded", views: [view(0, [1]), view(1, [], [1]), view(2, [], [], 1)], truth: [rank(0, []), rank(1, [1]), rank(2, [])] }))
      .toEqual([0, 2])
    expect(dishonestRanks({ state: "degraded", views: [view(0, [], [1], "maybe")], truth: [rank(0, [], 2)] })).toEqual([])
    expect(dishonestRanks({ state: "ready", views: [view(0, [])], truth: [rank(0, [4])] })).toEqual([0])
  })
})

// ---------------------------------------------------------------------------------------------
// Compensation (CONS-2) and indefinite outcomes (CONS-3)
// ---------------------------------------------------------------------------------------------

/** A world size, a rank in it, and a different rank. */
const twoRanksArb = fc.integer({ min: 2, max: 4 }).chain((worldSize) =>
  fc.tuple(fc.integer({ min: 0, max: worldSize - 1 }), fc.integer({ min: 1, max: worldSize - 1 }))
    .map(([rank, offset]) => ({ worldSize, rank, other: (rank + offset) % worldSize })))

describe("engine: compensation (CONS-2)", () => {
  test.prop([twoRanksArb, fc.integer({ min: 1, max: 50 }), fc.integer({ min: 50, max: 500 }), seedArb], { numRuns: runs(40) })(
    "a definite addLora failure on one rank is undone on the others: ControlFailed names the rank, every other rank is restored, nothing diverges, the engine stays ready and no rank holds the adapter",
    ({ worldSize, rank }, adapterId, timeoutMs, seed) =>
      withHarness({ seed, worldSize, engine: engineConfig }, (h) => {
        valueOf(h.run(h.handle.inject({ rank, method: "addLora", kind: "throw", count: 1 })))
        const error = asControlFailed(failureOf(h.run(h.engine.addLora(adapterOf(adapterId), { timeoutMs }))))
        expect(error.result.outcomes.map((outcome) => [outcome.rank, outcome._tag])).toEqual(
          ranksOf(worldSize).map((r) => [r, r === rank ? "Failed" : "Ok"]))
        const others = ranksOf(worldSize).filter((r) => r !== rank)
        expect(error.compensation?.restoredRanks).toEqual(others)
        expect(error.compensation?.unrestoredRanks).toEqual([])
        expect(error.divergentRanks).toEqual([])
        const snapshot = h.snapshot()
        expect(snapshot.state).toBe("ready")
        expect(snapshot.truth.filter((truth) => truth.loras.includes(adapterId))).toEqual([])
        expect(silentDivergence(snapshot)).toBeUndefined()
        // The compensated engine still serves: a later add succeeds everywhere.
        valueOf(h.run(h.engine.addLora(adapterOf(adapterId), { timeoutMs })))
        expect(h.snapshot().truth.every((truth) => truth.loras.includes(adapterId))).toBe(true)
      })
  )

  test.prop([twoRanksArb, fc.integer({ min: 1, max: 50 }), fc.integer({ min: 50, max: 500 }), seedArb], { numRuns: runs(40) })(
    "when the undo of a failed addLora fails too, the engine is degraded naming the rank left holding the adapter, refuses requests for it, and heal + removeLora + listLoras reconcile it to ready",
    ({ worldSize, rank, other }, adapterId, timeoutMs, seed) =>
      withHarness({ seed, worldSize, engine: engineConfig }, (h) => {
        valueOf(h.run(h.handle.inject({ rank, method: "addLora", kind: "throw", count: 1 })))
        valueOf(h.run(h.handle.inject({ rank: other, method: "removeLora", kind: "throw" })))
        const error = asControlFailed(failureOf(h.run(h.engine.addLora(adapterOf(adapterId), { timeoutMs }))))
        expect(error.compensation?.unrestoredRanks).toEqual([other])
        let snapshot = h.snapshot()
        expect(snapshot.state).toBe("degraded")
        expect(snapshot.truth[other].loras).toContain(adapterId)
        // With three or more ranks the holder is the odd one out; with two it is a tie, and the
        // engine may name either rank, but it must name one of the two.
        if (worldSize >= 3) expect(error.divergentRanks).toEqual([other])
        else expect(error.divergentRanks.length).toBeGreaterThan(0)
        expect(silentDivergence(snapshot)).toBeUndefined()
        const refused = failureOf(h.run(h.engine.submit(requestOf("with-adapter", { ...plainImage, lora: adapterId }))))
        expect((refused as { _tag: string })._tag).toBe("EngineDegraded")
        valueOf(h.run(h.handle.heal()))
        h.run(h.engine.removeLora(adapterId, { timeoutMs }))
        expect(valueOf(h.run(h.engine.listLoras({ timeoutMs })))).toEqual([])
        snapshot = h.snapshot()
        expect(snapshot.state).toBe("ready")
        expect(snapshot.truth.every((truth) => truth.loras.length === 0)).toBe(true)
        expect(silentDivergence(snapshot)).toBeUndefined()
      })
  )
})

describe("engine: indefinite outcomes (CONS-3)", () => {
  test.prop([twoRanksArb, fc.integer({ min: 1, max: 50 }), fc.integer({ min: 20, max: 200 }), seedArb], { numRuns: runs(40) })(
    "an addLora that hangs on one rank times out there, the rank is believed to maybe hold the adapter, and after heal a checkHealth makes the views equal the truth and the engine ready",
    ({ worldSize, rank }, adapterId, timeoutMs, seed) =>
      withHarness({ seed, worldSize, engine: engineConfig }, (h) => {
        valueOf(h.run(h.handle.inject({ rank, method: "addLora", kind: "hang", count: 1 })))
        const startedMs = h.world.nowMs()
        const error = asControlFailed(failureOf(h.run(h.engine.addLora(adapterOf(adapterId), { timeoutMs }))))
        // The add and its undo each wait at most their timeout.
        expect(h.world.nowMs() - startedMs).toBeLessThanOrEqual(2 * timeoutMs)
        expect(error.result.outcomes.map((outcome) => [outcome.rank, outcome._tag])).toEqual(
          ranksOf(worldSize).map((r) => [r, r === rank ? "TimedOut" : "Ok"]))
        let snapshot = h.snapshot()
        const restoredHung = error.compensation?.restoredRanks.includes(rank) ?? false
        if (!restoredHung) {
          expect(snapshot.views[rank].lorasMaybe).toContain(adapterId)
          expect(snapshot.state).toBe("degraded")
          expect(error.divergentRanks).toContain(rank)
        }
        expect(dishonestRanks(snapshot)).toEqual([])
        expect(silentDivergence(snapshot)).toBeUndefined()
        valueOf(h.run(h.handle.heal()))
        valueOf(h.run(h.engine.checkHealth({ timeoutMs })))
        snapshot = h.snapshot()
        expect(snapshot.state).toBe("ready")
        for (const truth of snapshot.truth) {
          expect(snapshot.views[truth.rank]).toEqual({ rank: truth.rank, loras: truth.loras, lorasMaybe: [], sleep: 0 })
        }
      })
  )
})

// ---------------------------------------------------------------------------------------------
// Requests: one terminal outcome each (SHUT-3)
// ---------------------------------------------------------------------------------------------

type RequestAction =
  | { readonly _tag: "enqueue"; readonly shape: RequestShape }
  | { readonly _tag: "abort"; readonly index: number }
  | { readonly _tag: "advance"; readonly ms: number }
  | { readonly _tag: "inject"; readonly fault: FaultSpec }
  | { readonly _tag: "heal" }
  | { readonly _tag: "sleep"; readonly level: 1 | 2 }
  | { readonly _tag: "wakeUp" }
  | { readonly _tag: "kill"; readonly rank: number }

const requestActionArb = (worldSize: number): fc.Arbitrary<RequestAction> =>
  fc.oneof(
    { weight: 6, arbitrary: requestShapeArb(false).map((shape): RequestAction => ({ _tag: "enqueue", shape })) },
    { weight: 2, arbitrary: fc.nat(30).map((index): RequestAction => ({ _tag: "abort", index })) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 400 }).map((ms): RequestAction => ({ _tag: "advance", ms })) },
    {
      weight: 2,
      arbitrary: callFaultArb(worldSize, ["execute", "execute", "sleep", "wakeUp"])
        .map((fault): RequestAction => ({ _tag: "inject", fault }))
    },
    { weight: 1, arbitrary: fc.constant<RequestAction>({ _tag: "heal" }) },
    { weight: 1, arbitrary: fc.constantFrom<1 | 2>(1, 2).map((level): RequestAction => ({ _tag: "sleep", level })) },
    { weight: 1, arbitrary: fc.constant<RequestAction>({ _tag: "wakeUp" }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: worldSize - 1 }).map((rank): RequestAction => ({ _tag: "kill", rank })) }
  )

const requestTerminalTags = [
  "Success", "RequestAborted", "CollectiveRpcError", "EngineClosed", "ExecutorDead", "EngineAsleep", "OutputContractError"
]

describe("engine: requests (SHUT-3)", () => {
  test.prop([
    fc.integer({ min: 2, max: 4 }).chain((worldSize) =>
      fc.record({ worldSize: fc.constant(worldSize), actions: fc.array(requestActionArb(worldSize), { maxLength: 24 }) })),
    fc.integer({ min: 50, max: 2_000 }),
    seedArb
  ], { numRuns: runs(60) })(
    "every admitted request ends in exactly one typed terminal outcome, an aborted one never completes, and close fails exactly the requests still active",
    ({ worldSize, actions }, closeTimeoutMs, seed) =>
      withHarness({ seed, worldSize, engine: engineConfig }, (h) => {
        const handles: Array<RequestHandle> = []
        const exits = new Map<string, Array<Exit.Exit<unknown, unknown>>>()
        const aborted = new Set<string>()
        let next = 0
        const watch = (handle: RequestHandle) => {
          exits.set(handle.requestId, [])
          // Two independent waiters: each sees the one outcome, and they agree.
          for (let index = 0; index < 2; index++) {
            h.fork(Effect.flatMap(Effect.exit(handle.result), (exit) =>
              Effect.sync(() => exits.get(handle.requestId)!.push(exit))))
          }
        }
        for (const action of actions) {
          switch (action._tag) {
            case "enqueue": {
              const exit = h.run(h.engine.enqueue(requestOf(`r${next++}`, action.shape)))
              if (exit._tag === "Success") {
                handles.push(exit.value)
                watch(exit.value)
              }
              break
            }
            case "abort": {
              if (handles.length === 0) break
              const requestId = handles[action.index % handles.length].requestId
              if (h.run(h.engine.abort(requestId))._tag === "Success") aborted.add(requestId)
              break
            }
            case "advance": h.advance(action.ms); break
            case "inject": valueOf(h.run(h.handle.inject(action.fault))); break
            case "heal": valueOf(h.run(h.handle.heal())); break
            case "sleep": h.run(h.engine.sleep(action.level, { timeoutMs: 200 })); break
            case "wakeUp": h.run(h.engine.wakeUp(["weights", "kv_cache"], { timeoutMs: 200 })); break
            case "kill": h.run(h.handle.kill(action.rank)); break
          }
        }
        h.settle()
        const activeBeforeClose = new Set(handles.map((handle) => handle.requestId).filter((id) => exits.get(id)!.length === 0))
        const report = valueOf(h.run(h.engine.close({ timeoutMs: closeTimeoutMs })))
        h.settle()
        for (const handle of handles) {
          const seen = exits.get(handle.requestId)!
          expect(seen.length, `request ${handle.requestId} is seen once by each waiter`).toBe(2)
          const [first, second] = seen.map(tagOf)
          expect(second).toBe(first)
          expect(requestTerminalTags, `request ${handle.requestId} ended with ${first}`).toContain(first)
          if (aborted.has(handle.requestId)) expect(first).toBe("RequestAborted")
          if (first === "RequestAborted") expect(aborted.has(handle.requestId)).toBe(true)
          // The engine remembers the same outcome for a late `await`.
          expect(tagOf(h.run(h.engine.await(handle.requestId)))).toBe(first)
        }
        const closedByClose = handles.map((handle) => handle.requestId)
          .filter((id) => tagOf(exits.get(id)![0]) === "EngineClosed")
        expect([...report.failedRequests].sort()).toEqual(closedByClose.sort())
        for (const id of report.failedRequests) expect(activeBeforeClose.has(id), `${id} was active at close`).toBe(true)
      })
  )
})

// ---------------------------------------------------------------------------------------------
// Close (SHUT-1, SHUT-2, SHUT-4)
// ---------------------------------------------------------------------------------------------

const signalFaultArb = (worldSize: number): fc.Arbitrary<FaultSpec> =>
  fc.record({
    rank: fc.integer({ min: 0, max: worldSize - 1 }),
    kind: fc.constantFrom("ignoreTerminate" as const, "unkillable" as const),
    count: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined })
  }).map(({ count, ...fault }): FaultSpec => (count === undefined ? fault : { ...fault, count }))

/**
 * Faults for close: call faults that keep a rank busy, signal faults, and often both on one rank
 * (a rank stuck in a call that also resists signals is what leaves survivors).
 */
const closeFaultsArb = (worldSize: number): fc.Arbitrary<ReadonlyArray<FaultSpec>> =>
  fc.array(
    fc.oneof(
      callFaultArb(worldSize, ["checkHealth", "execute", "listLoras"], ["hang", "slow", "throw"]).map((fault) => [fault]),
      signalFaultArb(worldSize).map((fault) => [fault]),
      signalFaultArb(worldSize).map((fault): ReadonlyArray<FaultSpec> => [
        { rank: fault.rank, method: "checkHealth", kind: "hang", count: 1 },
        fault
      ])
    ),
    { maxLength: 4 }
  ).map((groups) => groups.flat())

describe("engine: close (SHUT-1, SHUT-2, SHUT-4)", () => {
  test.prop([
    fc.integer({ min: 2, max: 4 }).chain((worldSize) =>
      fc.record({
        worldSize: fc.constant(worldSize),
        faults: closeFaultsArb(worldSize),
        requests: fc.array(requestShapeArb(false), { maxLength: 4 }),
        // A rank killed before close (one run in five): the engine has failed when close starts.
        kill: fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: worldSize - 1 }) }
        ),
        inFlight: fc.boolean()
      })),
    fc.integer({ min: 50, max: 2_000 }),
    seedArb
  ], { numRuns: runs(80) })(
    "close returns within its bound, even with a control operation in flight, and names exactly the ranks still alive; after heal a retry closes everything and ends the operation; close is idempotent; requests after close get EngineClosed",
    ({ worldSize, faults, requests, kill, inFlight }, timeoutMs, seed) =>
      withHarness({ seed, worldSize, engine: engineConfig }, (h) => {
        for (const fault of faults) valueOf(h.run(h.handle.inject(fault)))
        // Reach the faults: a health check hangs or slows the ranks that have such faults.
        h.run(h.engine.checkHealth({ timeoutMs: 50 }))
        requests.forEach((shape, index) => h.run(h.engine.enqueue(requestOf(`c${index}`, shape))))
        if (kill !== undefined) h.run(h.handle.kill(kill))
        // An operation that holds the wire (and waits on hung ranks) must not hold up close.
        const operation = inFlight ? h.fork(Effect.exit(h.engine.listLoras({ timeoutMs: 60_000 }))) : undefined
        h.settle()
        const diedBefore = h.snapshot().truth.some((truth) => !truth.alive)
        const startedMs = h.world.nowMs()
        const report = valueOf(h.run(h.engine.close({ timeoutMs })))
        expect(h.world.nowMs() - startedMs, "close returns within timeoutMs").toBeLessThanOrEqual(timeoutMs)
        const alive = h.snapshot().truth.filter((truth) => truth.alive).map((truth) => truth.rank)
        expect(report.survivingRanks).toEqual(alive)
        expect(report.stoppedRanks).toEqual(ranksOf(worldSize).filter((rank) => !alive.includes(rank)))
        expect(report.state).toBe(alive.length > 0 ? "pending-cleanup" : diedBefore ? "failed" : "closed")
        expect(stateOf(h)).toBe(alive.length > 0 ? "pending-cleanup" : "closed")
        expect(tagOf(h.run(h.engine.submit(requestOf("late", requests[0] ?? plainImage))))).toBe("EngineClosed")

        valueOf(h.run(h.handle.heal()))
        const retry: CloseReport = valueOf(h.run(h.engine.close({ timeoutMs: 2_000 })))
        expect(retry.survivingRanks).toEqual([])
        expect(h.snapshot().truth.filter((truth) => truth.alive)).toEqual([])
        if (report.state === "pending-cleanup") expect(["closed", "failed"]).toContain(retry.state)
        else expect(retry).toEqual(report)
        expect(stateOf(h)).toBe("closed")
        expect(valueOf(h.run(h.engine.close({ timeoutMs })))).toEqual(retry)
        if (operation !== undefined) {
          // Every rank has exited, so the operation has its answer without waiting for its timeout.
          h.settle()
          const ended = operation.pollUnsafe()
          expect(ended, "the in-flight operation ended by the time every rank exited").toBeDefined()
          if (ended !== undefined && ended._tag === "Success") {
            expect(["Success", "CollectiveRpcError", "RankDivergence", "ExecutorClosed", "ExecutorDead", "EngineClosed"]).toContain(tagOf(ended.value))
          }
        }
        expect(tagOf(h.run(h.engine.enqueue(requestOf("later", plainImage))))).toBe("EngineClosed")
      })
  )
})

// ---------------------------------------------------------------------------------------------
// API-1: a model without LoRA; API-2: sleep and wake
// ---------------------------------------------------------------------------------------------

describe("engine: API-1 and API-2", () => {
  test.prop([fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 50 }), seedArb], { numRuns: runs(30) })(
    "on a model without LoRA every LoRA operation fails on every rank with LoraUnsupported, no rank dies, the engine stays ready and still serves requests",
    (worldSize, adapterId, seed) =>
      withHarness({ seed, worldSize, model: { lora: false }, engine: engineConfig }, (h) => {
        const operations: ReadonlyArray<[string, Effect.Effect<unknown, unknown>]> = [
          ["addLora", h.engine.addLora(adapterOf(adapterId), { timeoutMs: 100 })],
          ["removeLora", h.engine.removeLora(adapterId, { timeoutMs: 100 })],
          ["pinLora", h.engine.pinLora(adapterId, { timeoutMs: 100 })],
          ["listLoras", h.engine.listLoras({ timeoutMs: 100 })]
        ]
        for (const [name, operation] of operations) {
          const error = failureOf(h.run(operation))
          expect(["ControlFailed", "CollectiveRpcError"], name).toContain((error as { _tag: string })._tag)
          const outcomes = resultOf(error).outcomes
          expect(outcomes.map((outcome) => [outcome.rank, outcome._tag, errorTagOf(outcome)]), name).toEqual(
            ranksOf(worldSize).map((rank) => [rank, "Failed", "LoraUnsupported"]))
          expect(stateOf(h), name).toBe("ready")
        }
        const snapshot = h.snapshot()
        expect(snapshot.truth.every((truth) => truth.alive)).toBe(true)
        expect(silentDivergence(snapshot)).toBeUndefined()
        const health = valueOf(h.run(h.engine.checkHealth({ timeoutMs: 100 })))
        expect(health.every((rank) => rank.loras.length === 0)).toBe(true)
        const output = valueOf(h.run(h.engine.submit(requestOf("plain", { ...plainImage, steps: 3 }))))
        expect(output.requestId).toBe("plain")
      })
  )

  test.prop([
    fc.integer({ min: 1, max: 4 }),
    fc.constantFrom<1 | 2>(1, 2),
    fc.constantFrom(0, 1_024),
    fc.subarray<MemoryTag>(["weights", "kv_cache"]),
    seedArb
  ], { numRuns: runs(40) })(
    "sleep frees every rank's pools and reports them per rank; a wake succeeds exactly when its tags cover every pool that slept; a second wake is a no-op; requests while asleep fail with EngineAsleep",
    (worldSize, level, kvCacheBytes, tags, seed) => {
      const weightsBytes = 4_096
      withHarness({ seed, worldSize, model: { weightsBytes, kvCacheBytes }, engine: engineConfig }, (h) => {
        const summary = valueOf(h.run(h.engine.sleep(level, { timeoutMs: 100 })))
        expect(summary.level).toBe(level)
        expect(summary.freedBytesByRank).toEqual(ranksOf(worldSize).map((rank) => ({ rank, freedBytes: weightsBytes + kvCacheBytes })))
        expect(summary.freedBytesTotal).toBe(summary.freedBytesByRank.reduce((total, entry) => total + entry.freedBytes, 0))
        expect(stateOf(h)).toBe("asleep")
        expect(h.snapshot().truth.every((truth) => truth.sleepLevel === level)).toBe(true)
        const asleep = failureOf(h.run(h.engine.submit(requestOf("sleepy", plainImage))))
        expect((asleep as { _tag: string })._tag).toBe("EngineAsleep")

        const covers = tags.includes("weights") && (kvCacheBytes === 0 || tags.includes("kv_cache"))
        const partial = h.run(h.engine.wakeUp(tags, { timeoutMs: 100 }))
        if (covers) {
          const woke = valueOf(partial)
          expect(woke.restoredBytesTotal).toBe(worldSize * (weightsBytes + kvCacheBytes))
          expect(woke.alreadyAwakeRanks).toEqual([])
        } else {
          const error = asControlFailed(failureOf(partial))
          expect(error.result.outcomes.map((outcome) => [outcome.rank, outcome._tag, errorTagOf(outcome)])).toEqual(
            ranksOf(worldSize).map((rank) => [rank, "Failed", "IncompleteWake"]))
          expect(stateOf(h)).toBe("asleep")
          expect(h.snapshot().truth.every((truth) => truth.sleepLevel === level)).toBe(true)
          const woke = valueOf(h.run(h.engine.wakeUp(["weights", "kv_cache"], { timeoutMs: 100 })))
          expect(woke.restoredBytesTotal).toBe(worldSize * (weightsBytes + kvCacheBytes))
        }
        expect(stateOf(h)).toBe("ready")
        const again = valueOf(h.run(h.engine.wakeUp(["weights", "kv_cache"], { timeoutMs: 100 })))
        expect(again.alreadyAwakeRanks).toEqual(ranksOf(worldSize))
        expect(again.restoredBytesTotal).toBe(0)
        expect(stateOf(h)).toBe("ready")
        expect(silentDivergence(h.snapshot())).toBeUndefined()
        valueOf(h.run(h.engine.submit(requestOf("awake", plainImage))))
      })
    }
  )
})

// ---------------------------------------------------------------------------------------------
// A rank death fails the pending operation at once
// ---------------------------------------------------------------------------------------------

const crashOpArb: fc.Arbitrary<ControlOp> = fc.oneof(
  fc.integer({ min: 1, max: 9 }).map((id): ControlOp => ({ op: "addLora", id })),
  fc.integer({ min: 1, max: 9 }).map((id): ControlOp => ({ op: "removeLora", id })),
  fc.constant<ControlOp>({ op: "listLoras" }),
  fc.constant<ControlOp>({ op: "sleep", level: 1 }),
  fc.constant<ControlOp>({ op: "checkHealth" })
)

describe("engine: rank death", () => {
  test.prop([
    fc.integer({ min: 1, max: 4 }).chain((worldSize) =>
      fc.record({ worldSize: fc.constant(worldSize), rank: fc.integer({ min: 0, max: worldSize - 1 }) })),
    crashOpArb,
    fc.constantFrom("crashBeforeApply" as const, "crashAfterApply" as const, "kill during hang" as const),
    fc.integer({ min: 1_000, max: 5_000 }),
    seedArb
  ], { numRuns: runs(60) })(
    "a rank that dies during a control operation fails it before its timeout, with that rank Crashed, and later requests fail with ExecutorDead",
    ({ worldSize, rank }, op, how, timeoutMs, seed) =>
      withHarness({ seed, worldSize, engine: engineConfig }, (h) => {
        const method = op.op as WorkerMethod
        const startedMs = h.world.nowMs()
        let exit: Exit.Exit<unknown, unknown>
        if (how === "kill during hang") {
          valueOf(h.run(h.handle.inject({ rank, method, kind: "hang", count: 1 })))
          const pending: Fiber.Fiber<unknown, unknown> = h.fork(controlEffect(h, op, timeoutMs))
          h.advance(Math.floor(timeoutMs / 2))
          valueOf(h.run(h.handle.kill(rank)))
          exit = h.run(Fiber.join(pending))
        } else {
          valueOf(h.run(h.handle.inject({ rank, method, kind: how, count: 1 })))
          exit = h.run(controlEffect(h, op, timeoutMs))
        }
        expect(h.world.nowMs() - startedMs, "the operation ends before its timeout").toBeLessThan(timeoutMs)
        const outcomes = resultOf(failureOf(exit)).outcomes
        expect(outcomes.find((outcome) => outcome.rank === rank)?._tag).toBe("Crashed")
        const snapshot = h.snapshot()
        expect(snapshot.state).toBe("failed")
        expect(snapshot.truth[rank].alive).toBe(false)
        const refused = failureOf(h.run(h.engine.submit(requestOf("after-death", plainImage))))
        expect((refused as { _tag: string })._tag).toBe("ExecutorDead")
        expect(tagOf(h.run(controlEffect(h, { op: "checkHealth" }, 100)))).toBe("ExecutorDead")
      })
  )
})

// ---------------------------------------------------------------------------------------------
// Known defects: each test states the contract and fails until the product is fixed.
// ---------------------------------------------------------------------------------------------

describe("engine: regressions", () => {
  // Found by this file: when the undo of a partial addLora/removeLora/sleep/wakeUp times out on a
  // rank, the engine keeps its definite belief about that rank instead of "maybe". Fails until
  // core/control-ops.ts marks indefinite undo outcomes as "maybe".
  test("an undo that times out leaves the rank believed 'maybe', so later partial failures cannot make diverged ranks look ready", () =>
    withHarness({ seed: 7, worldSize: 2, engine: engineConfig }, (h) => {
      // addLora(5): rank 0 refuses, rank 1 adds; the undo (removeLora) hangs on rank 1 and times out.
      valueOf(h.run(h.handle.inject({ rank: 0, method: "addLora", kind: "throw", count: 1 })))
      valueOf(h.run(h.handle.inject({ rank: 1, method: "removeLora", kind: "hang", count: 1 })))
      h.run(h.engine.addLora(adapterOf(5), { timeoutMs: 100 }))
      // Released, rank 1 applies the undo late: no rank holds adapter 5 any more.
      valueOf(h.run(h.handle.heal()))
      expect(dishonestRanks(h.snapshot())).toEqual([])
      // addLora(5) again: rank 0 adds, rank 1 refuses; the undo on rank 0 fails too.
      valueOf(h.run(h.handle.inject({ rank: 1, method: "addLora", kind: "throw", count: 1 })))
      valueOf(h.run(h.handle.inject({ rank: 0, method: "removeLora", kind: "throw", count: 1 })))
      h.run(h.engine.addLora(adapterOf(5), { timeoutMs: 100 }))
      const snapshot = h.snapshot()
      expect(silentDivergence(snapshot), describeSnapshot(snapshot)).toBeUndefined()
      // A request for adapter 5 is refused up front, not failed by a rank that lacks the adapter.
      const exit = h.run(h.engine.submit(requestOf("uses-5", { ...plainImage, lora: 5 })))
      expect(tagOf(exit)).toBe("EngineDegraded")
    }))

  // Found by this file: the undo of addLora removes the adapter from every rank that answered Ok,
  // including ranks that held it before the call (a re-add answers Ok unchanged), and reports
  // them as restored. Fails until core/control-ops.ts compensates only ranks the call changed.
  test.prop([twoRanksArb, fc.integer({ min: 1, max: 50 }), seedArb], { numRuns: runs(20) })(
    "a failed re-add of an adapter every rank already holds leaves every rank holding it: the undo only reverts ranks the call changed",
    ({ worldSize, rank }, adapterId, seed) =>
      withHarness({ seed, worldSize, engine: engineConfig }, (h) => {
        valueOf(h.run(h.engine.addLora(adapterOf(adapterId), { timeoutMs: 100 })))
        valueOf(h.run(h.handle.inject({ rank, method: "addLora", kind: "throw", count: 1 })))
        const error = asControlFailed(failureOf(h.run(h.engine.addLora(adapterOf(adapterId), { timeoutMs: 100 }))))
        const snapshot = h.snapshot()
        expect(snapshot.truth.filter((truth) => !truth.loras.includes(adapterId)).map((truth) => truth.rank), describeSnapshot(snapshot)).toEqual([])
        expect(snapshot.state).toBe("ready")
        expect(error.divergentRanks).toEqual([])
      })
  )
})

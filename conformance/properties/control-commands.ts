/**
 * The commands of the model-based consistency test (CONS-1), one small class each.
 *
 * A control command runs one engine operation, optionally with a fault placed on one rank for
 * that operation's own method first (`addLora(3)[rank 1 throw]`), so a shrunk counterexample
 * reads as the schedule that broke the engine. `heal` clears faults and releases hung calls (they
 * then apply, late); `wait` lets time pass so late replies land. After every command the checker
 * compares the engine's beliefs with the ranks' truth (beliefs.ts): the reference model is the
 * truth itself, read from the ranks, so fast-check's model only counts steps.
 */
import { type Effect, Exit } from "effect"
import * as fc from "fast-check"
import type { ClusterHarness, FaultSpec } from "../../backends/harness.ts"
import type { EngineShape } from "../../core/engine.ts"
import { memoryTags, type SleepLevel, type WorkerMethod } from "../../core/worker.ts"
import { describeTruth, silentDivergence } from "../beliefs.ts"
import { describeCause, hasDefect, settle, snapshot, succeed } from "../cluster.ts"
import { expectThat } from "../property.ts"

/** Deadline of every control operation: short, so slow faults land on both sides of it. */
export const controlTimeoutMs = 100

export interface InjectedFault {
  readonly rank: number
  readonly kind: "throw" | "hang" | "slow"
  readonly delayMs?: number | undefined
}

/**
 * fast-check's model: the truth lives in the ranks, so the model holds only the world size (a
 * command whose fault names a rank outside the world does not apply) and counts steps.
 */
export interface ControlModel { readonly worldSize: number; steps: number }
export interface ControlReal { readonly harness: ClusterHarness }

/** A command that can also run on its own, answering how it ended (DET-1 replays schedules). */
export interface ScheduledCommand extends fc.AsyncCommand<ControlModel, ControlReal> {
  readonly perform: (harness: ClusterHarness) => Promise<Exit.Exit<unknown, unknown>>
}

const describeFault = (fault: InjectedFault): string =>
  `[rank ${fault.rank} ${fault.kind}${fault.kind === "slow" ? ` ${fault.delayMs}ms` : ""}]`

/** Fails the run when the engine silently diverges from the ranks after `step`. */
export const expectNoSilentDivergence = async (harness: ClusterHarness, step: string): Promise<void> => {
  const now = await snapshot(harness)
  const divergence = silentDivergence(now)
  expectThat(divergence.length === 0, `after ${step}: ${divergence.join("; ")} (truth: ${describeTruth(now.truth)})`)
}

/** One engine operation with an optional fault on its own method. */
export abstract class ControlCommand implements ScheduledCommand {
  constructor(readonly fault: InjectedFault | undefined) {}
  abstract readonly method: WorkerMethod
  abstract readonly label: string
  abstract operation(engine: EngineShape): Effect.Effect<unknown, unknown>

  /** Applies only when its fault names a rank of the world; fast-check drops it from the schedule otherwise. */
  check(model: Readonly<ControlModel>): boolean { return this.fault === undefined || this.fault.rank < model.worldSize }

  /** Places the fault, then runs the operation to its end; answers how it ended. */
  async perform(harness: ClusterHarness): Promise<Exit.Exit<unknown, unknown>> {
    if (this.fault) {
      const spec: FaultSpec = { rank: this.fault.rank, method: this.method, kind: this.fault.kind, count: 1, delayMs: this.fault.delayMs }
      await succeed(harness, `injecting ${describeFault(this.fault)}`, harness.faults.inject(spec))
    }
    return settle(harness, this.toString(), this.operation(harness.engine))
  }

  async run(model: ControlModel, real: ControlReal): Promise<void> {
    model.steps++
    const exit = await this.perform(real.harness)
    if (hasDefect(exit)) {
      expectThat(false, `${this.toString()} died instead of answering a typed error: ${describeCause((exit as Exit.Failure<unknown, unknown>).cause)}`)
    }
    await expectNoSilentDivergence(real.harness, this.toString())
  }

  toString(): string { return `${this.label}${this.fault ? describeFault(this.fault) : ""}` }
}

const timeout = { timeoutMs: controlTimeoutMs }
const adapter = (id: number) => ({ id, name: `adapter-${id}` })

export class AddLora extends ControlCommand {
  readonly method = "addLora"
  constructor(readonly adapterId: number, fault?: InjectedFault) { super(fault) }
  get label() { return `addLora(${this.adapterId})` }
  operation(engine: EngineShape) { return engine.addLora(adapter(this.adapterId), timeout) }
}

export class RemoveLora extends ControlCommand {
  readonly method = "removeLora"
  constructor(readonly adapterId: number, fault?: InjectedFault) { super(fault) }
  get label() { return `removeLora(${this.adapterId})` }
  operation(engine: EngineShape) { return engine.removeLora(this.adapterId, timeout) }
}

export class Sleep extends ControlCommand {
  readonly method = "sleep"
  constructor(readonly level: SleepLevel, fault?: InjectedFault) { super(fault) }
  get label() { return `sleep(${this.level})` }
  operation(engine: EngineShape) { return engine.sleep(this.level, timeout) }
}

export class WakeUp extends ControlCommand {
  readonly method = "wakeUp"
  readonly label = "wakeUp"
  operation(engine: EngineShape) { return engine.wakeUp(memoryTags, timeout) }
}

export class ListLoras extends ControlCommand {
  readonly method = "listLoras"
  readonly label = "listLoras"
  operation(engine: EngineShape) { return engine.listLoras(timeout) }
}

export class CheckHealth extends ControlCommand {
  readonly method = "checkHealth"
  readonly label = "checkHealth"
  operation(engine: EngineShape) { return engine.checkHealth(timeout) }
}

/** Clears every fault; hung calls resume and apply late. */
export class Heal implements ScheduledCommand {
  check(): boolean { return true }
  perform(harness: ClusterHarness): Promise<Exit.Exit<unknown, unknown>> {
    return settle(harness, "heal", harness.faults.heal())
  }
  async run(model: ControlModel, real: ControlReal): Promise<void> {
    model.steps++
    await succeed(real.harness, "heal", real.harness.faults.heal())
    await expectNoSilentDivergence(real.harness, "heal")
  }
  toString(): string { return "heal" }
}

/** Lets time pass with no operation, so late replies and late applies land. */
export class Wait implements ScheduledCommand {
  constructor(readonly ms: number) {}
  check(): boolean { return true }
  async perform(harness: ClusterHarness): Promise<Exit.Exit<unknown, unknown>> {
    await harness.advance(this.ms)
    return Exit.void
  }
  async run(model: ControlModel, real: ControlReal): Promise<void> {
    model.steps++
    await this.perform(real.harness)
    await expectNoSilentDivergence(real.harness, this.toString())
  }
  toString(): string { return `wait(${this.ms}ms)` }
}

// ---------------------------------------------------------------------------------------------
// Generators: faults on a rank of the world, commands with or without one.
// ---------------------------------------------------------------------------------------------

/** No fault most of the time, so schedules also make progress. */
const optionalFault = (rankLimit: number): fc.Arbitrary<InjectedFault | undefined> =>
  fc.option(
    fc.record({
      rank: fc.integer({ min: 0, max: rankLimit - 1 }),
      kind: fc.constantFrom<InjectedFault["kind"]>("throw", "hang", "slow"),
      delayMs: fc.integer({ min: 1, max: controlTimeoutMs * 3 })
    }).map((fault): InjectedFault => (fault.kind === "slow" ? fault : { rank: fault.rank, kind: fault.kind })),
    { nil: undefined, freq: 2 }
  )

const adapterIds = fc.integer({ min: 1, max: 4 })

/** Every command kind, with faults on ranks below `rankLimit`. */
export const controlCommands = (rankLimit: number): Array<fc.Arbitrary<ScheduledCommand>> => {
  const fault = optionalFault(rankLimit)
  return [
    fc.tuple(adapterIds, fault).map(([id, f]) => new AddLora(id, f)),
    fc.tuple(adapterIds, fault).map(([id, f]) => new RemoveLora(id, f)),
    fc.tuple(fc.constantFrom<SleepLevel>(1, 2), fault).map(([level, f]) => new Sleep(level, f)),
    fault.map((f) => new WakeUp(f)),
    fault.map((f) => new ListLoras(f)),
    fault.map((f) => new CheckHealth(f)),
    fc.constant(null).map(() => new Heal()),
    fc.integer({ min: 1, max: controlTimeoutMs * 4 }).map((ms) => new Wait(ms))
  ]
}

// Goal: the timer heap pops live timers in exactly the order (atMs, tieBreak, sequence), never
// returns a cancelled one, keeps `size` equal to the live count through lazy deletion and sweeps,
// and refuses to grow past timersMax; the ready queue hands out the lowest priority first, FIFO
// within a priority, or (shuffled) some task of the lowest priority, the same ones per seed.
// Method: fast-check generates push/pop/cancel sequences, runs them against the heap and against
// a sorted-array reference model, and compares every popped timer and every size. With a seeded
// Prng, the model replays the same stream to know each timer's tie-break draw. The ready queue
// runs against a list model the same way.
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import { InvariantViolation } from "../../core/assert.ts"
import { makeStream } from "../../core/random.ts"
import { makeEventQueue, makeReadyQueue, type Timer } from "../../simulator/event-queue.ts"

type Command =
  | { readonly kind: "push"; readonly atMs: number }
  | { readonly kind: "pop" }
  | { readonly kind: "cancel"; readonly pick: number }

// Few distinct instants, so ties are common; fractional instants, as sub-millisecond sleeps make.
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 20 }).map((n) => ({ kind: "push" as const, atMs: n / 2 })) },
  { weight: 2, arbitrary: fc.constant({ kind: "pop" as const }) },
  { weight: 3, arbitrary: fc.nat().map((pick) => ({ kind: "cancel" as const, pick })) }
)

interface ModelTimer {
  readonly atMs: number
  readonly tieBreak: number
  readonly sequence: number
}

/** The reference order, written independently of the heap's comparator. */
const modelCompare = (left: ModelTimer, right: ModelTimer) =>
  left.atMs - right.atMs || left.tieBreak - right.tieBreak || left.sequence - right.sequence

/** Runs `commands` on the heap and on the reference; returns the heap's pops for inspection. */
const runAgainstModel = (commands: ReadonlyArray<Command>, seed: number | undefined) => {
  const queue = makeEventQueue({
    timersMax: 10_000,
    tieBreak: seed === undefined ? undefined : makeStream(seed, "scheduling")
  })
  const tieBreaks = seed === undefined ? undefined : makeStream(seed, "scheduling")
  const model: Array<ModelTimer> = []
  const handles: Array<Timer> = []
  let sequence = 0
  for (const step of commands) {
    if (step.kind === "push") {
      const tieBreak = tieBreaks === undefined ? 0 : tieBreaks.nextUint32()
      const entry = { atMs: step.atMs, tieBreak, sequence: sequence++ }
      handles.push(queue.push(step.atMs, () => {}))
      model.push(entry)
      model.sort(modelCompare)
    } else if (step.kind === "pop") {
      const popped = queue.pop()
      const expected = model.shift()
      expect(popped === undefined ? undefined : pick(popped)).toEqual(expected)
      if (popped !== undefined) expect(popped.state).toBe("fired")
    } else if (handles.length > 0) {
      const handle = handles[step.pick % handles.length]
      const index = model.findIndex((entry) => entry.sequence === handle.sequence)
      expect(queue.cancel(handle)).toBe(index >= 0)
      if (index >= 0) model.splice(index, 1)
    }
    expect(queue.size()).toBe(model.length)
    expect(queue.peekAtMs()).toBe(model[0]?.atMs)
  }
  // Draining pops the rest in model order.
  for (const expected of model) expect(pick(queue.pop()!)).toEqual(expected)
  expect(queue.pop()).toBeUndefined()
}

const pick = (timer: Timer): ModelTimer => ({ atMs: timer.atMs, tieBreak: timer.tieBreak, sequence: timer.sequence })

describe("event queue", () => {
  test.prop([fc.array(command, { maxLength: 400 })])(
    "without a Prng, timers pop in (atMs, insertion) order, cancelled ones never",
    (commands) => runAgainstModel(commands, undefined)
  )

  test.prop([fc.array(command, { maxLength: 400 }), fc.integer({ min: 0, max: 0xffff_ffff })])(
    "with a seeded Prng, timers pop in (atMs, drawn tie-break, insertion) order, cancelled ones never",
    (commands, seed) => runAgainstModel(commands, seed)
  )

  test.prop([fc.integer({ min: 0, max: 0xffff_ffff })])(
    "a mass cancellation sweeps the heap and keeps the order of the survivors",
    (seed) => {
      const prng = makeStream(seed, "workload")
      const queue = makeEventQueue({ timersMax: 2_000 })
      const timers = Array.from({ length: 1_000 }, () => queue.push(prng.nextInt(100), () => {}))
      const survivors = timers.filter((_, index) => index % 10 === 0)
      for (const timer of timers) if (!survivors.includes(timer)) queue.cancel(timer)
      expect(queue.size()).toBe(survivors.length)
      const expected = [...survivors].sort(modelCompare)
      expect(Array.from({ length: survivors.length }, () => queue.pop())).toEqual(expected)
      expect(queue.pop()).toBeUndefined()
    }
  )

  test("a cancelled or fired timer cannot be cancelled again", () => {
    const queue = makeEventQueue({ timersMax: 4 })
    const first = queue.push(1, () => {})
    const second = queue.push(2, () => {})
    expect(queue.cancel(first)).toBe(true)
    expect(queue.cancel(first)).toBe(false)
    expect(queue.pop()).toBe(second)
    expect(queue.cancel(second)).toBe(false)
    expect(queue.size()).toBe(0)
  })

  test("pushing past timersMax live timers is an invariant violation; cancelled ones free room", () => {
    const queue = makeEventQueue({ timersMax: 2 })
    const first = queue.push(1, () => {})
    queue.push(1, () => {})
    expect(() => queue.push(1, () => {})).toThrow(InvariantViolation)
    expect(() => queue.push(1, () => {})).toThrow(/timersMax=2/)
    queue.cancel(first)
    expect(() => queue.push(1, () => {})).not.toThrow()
  })

  test("a timer must be due at a finite time", () => {
    const queue = makeEventQueue({ timersMax: 2 })
    expect(() => queue.push(Infinity, () => {})).toThrow(InvariantViolation)
    expect(() => queue.push(Number.NaN, () => {})).toThrow(InvariantViolation)
  })
})

type ReadyCommand = { readonly kind: "push"; readonly priority: number } | { readonly kind: "take" }

const readyCommand: fc.Arbitrary<ReadyCommand> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -1, max: 2 }).map((priority) => ({ kind: "push" as const, priority })) },
  { weight: 2, arbitrary: fc.constant({ kind: "take" as const }) }
)

/** Runs `commands` on a ready queue; checks each take against a list model; returns the taken ids. */
const runReadyAgainstModel = (commands: ReadonlyArray<ReadyCommand>, seed: number | undefined) => {
  const queue = makeReadyQueue(seed === undefined ? undefined : makeStream(seed, "scheduling"))
  const model: Array<{ readonly id: number; readonly priority: number }> = []
  const taken: Array<number> = []
  let lastRun = -1
  let idNext = 0
  for (const step of commands) {
    if (step.kind === "push") {
      const id = idNext++
      queue.push(() => (lastRun = id), step.priority)
      model.push({ id, priority: step.priority })
    } else if (model.length > 0) {
      queue.take()()
      const lowest = Math.min(...model.map((task) => task.priority))
      const candidates = model.filter((task) => task.priority === lowest)
      const index = model.findIndex((task) => task.id === lastRun)
      if (seed === undefined) expect(lastRun).toBe(candidates[0].id)
      else expect(candidates.map((task) => task.id)).toContain(lastRun)
      model.splice(index, 1)
      taken.push(lastRun)
    }
    expect(queue.size()).toBe(model.length)
  }
  return taken
}

describe("ready queue", () => {
  test.prop([fc.array(readyCommand, { maxLength: 300 })])(
    "without a Prng, the oldest task of the lowest priority runs next",
    (commands) => {
      runReadyAgainstModel(commands, undefined)
    }
  )

  test.prop([fc.array(readyCommand, { maxLength: 300 }), fc.integer({ min: 0, max: 0xffff_ffff })])(
    "with a Prng, some task of the lowest priority runs next, the same one for the same seed",
    (commands, seed) => {
      expect(runReadyAgainstModel(commands, seed)).toEqual(runReadyAgainstModel(commands, seed))
    }
  )

  test("a queue that never empties keeps FIFO order across its compactions", () => {
    const queue = makeReadyQueue(undefined)
    const ran: Array<number> = []
    let next = 0
    for (; next < 10; next++) {
      const id = next
      queue.push(() => ran.push(id), 0)
    }
    for (let step = 0; step < 5_000; step++) {
      const id = next++
      queue.push(() => ran.push(id), 0)
      queue.take()()
    }
    while (queue.size() > 0) queue.take()()
    expect(ran).toEqual(Array.from({ length: next }, (_, id) => id))
  })
})


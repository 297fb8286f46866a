/**
 * The simulator's event queues: pending timers (earliest first) and ready tasks (due now).
 *
 * A binary min-heap keyed by (`atMs`, `tieBreak`, `sequence`). Timers due at the same instant
 * are the interesting case for a deterministic simulator: real systems give no order among
 * them, so when a seeded `Prng` is given each timer draws a random `tieBreak` at push time and
 * equal instants fire in a seed-chosen order (different seeds explore different orders, one
 * seed always replays the same one). Without a `Prng` the `tieBreak` is 0 and insertion order
 * (`sequence`) decides. `sequence` is unique, so the order is total and never depends on how
 * the heap happened to arrange equal keys.
 *
 * Cancellation is lazy: `cancel` marks the timer and the heap drops it when it reaches the top.
 * Effect cancels a timer whenever a `timeout` or `race` is won by the other side, so cancelled
 * timers can outnumber live ones; the heap is rebuilt without them once they are the majority,
 * which keeps memory within a constant factor of the live timers.
 *
 * The queue is bounded by `timersMax` live timers: a run that schedules without bound is a bug
 * in the program under test (or in the simulator), so exceeding it is an `InvariantViolation`.
 *
 * Beside it lives the other half of a world's events, the `ReadyQueue`: tasks due now (fiber
 * tasks from Effect's dispatcher), taken by priority, then FIFO or by a seeded draw.
 */
import { assert } from "../core/assert.ts"
import type { Prng } from "../core/random.ts"

/** One pending event. `fire` runs when virtual time reaches `atMs`, unless cancelled first. */
export interface Timer {
  readonly atMs: number
  readonly tieBreak: number
  readonly sequence: number
  readonly fire: () => void
  /** Pending until popped (`fired`) or cancelled; the queue alone changes it. */
  state: "pending" | "fired" | "cancelled"
}

export interface EventQueueOptions {
  /** The most live (pushed, not yet popped or cancelled) timers; one more is an invariant violation. */
  readonly timersMax: number
  /** Orders timers due at the same instant; omit for insertion order. */
  readonly tieBreak?: Prng | undefined
}

export interface EventQueue {
  /** Adds a timer due at `atMs` (finite, not NaN). */
  readonly push: (atMs: number, fire: () => void) => Timer
  /** Removes and returns the earliest live timer, or undefined when none is left. */
  readonly pop: () => Timer | undefined
  /** The due time of the earliest live timer, or undefined when none is left. */
  readonly peekAtMs: () => number | undefined
  /** Cancels a pending timer; false when it already fired or was cancelled. */
  readonly cancel: (timer: Timer) => boolean
  /** The number of live timers. */
  readonly size: () => number
}

/** Cancelled timers are swept only past this many, so small queues never pay for a rebuild. */
const sweepThresholdTimers = 64

/** Makes an empty queue. Use one per world; it is not shared between runs. */
export const makeEventQueue = (options: EventQueueOptions): EventQueue => {
  assert(Number.isInteger(options.timersMax) && options.timersMax > 0, "timersMax is a positive integer")
  const heap: Array<Timer> = []
  let pendingTimers = 0
  let cancelledInHeap = 0
  let sequenceNext = 0

  const push = (atMs: number, fire: () => void): Timer => {
    assert(Number.isFinite(atMs), () => `a timer is due at a finite time (got ${atMs})`)
    assert(
      pendingTimers < options.timersMax,
      `more than timersMax=${options.timersMax} timers pending: the run schedules without bound`
    )
    const tieBreak = options.tieBreak === undefined ? 0 : options.tieBreak.nextUint32()
    const timer: Timer = { atMs, tieBreak, sequence: sequenceNext++, fire, state: "pending" }
    pendingTimers++
    heap.push(timer)
    siftUp(heap, heap.length - 1)
    return timer
  }

  const dropCancelledTop = (): void => {
    while (heap.length > 0 && heap[0].state === "cancelled") {
      removeTop(heap)
      cancelledInHeap--
    }
  }

  const pop = (): Timer | undefined => {
    dropCancelledTop()
    if (heap.length === 0) return undefined
    const timer = removeTop(heap)
    assert(timer.state === "pending", "a popped timer is live")
    timer.state = "fired"
    pendingTimers--
    return timer
  }

  const peekAtMs = (): number | undefined => {
    dropCancelledTop()
    return heap.length === 0 ? undefined : heap[0].atMs
  }

  const cancel = (timer: Timer): boolean => {
    if (timer.state !== "pending") return false
    timer.state = "cancelled"
    pendingTimers--
    cancelledInHeap++
    if (cancelledInHeap > sweepThresholdTimers && cancelledInHeap > pendingTimers) {
      sweepCancelled()
    }
    return true
  }

  const sweepCancelled = (): void => {
    let kept = 0
    for (let index = 0; index < heap.length; index++) {
      if (heap[index].state === "pending") heap[kept++] = heap[index]
    }
    heap.length = kept
    for (let index = (kept >> 1) - 1; index >= 0; index--) siftDown(heap, index)
    cancelledInHeap = 0
    assert(heap.length === pendingTimers, "after a sweep the heap holds exactly the live timers")
  }

  return { push, pop, peekAtMs, cancel, size: () => pendingTimers }
}

/** Strict total order: earlier first, then the tie-break draw, then insertion order. */
export const timerPrecedes = (left: Timer, right: Timer): boolean =>
  left.atMs !== right.atMs
    ? left.atMs < right.atMs
    : left.tieBreak !== right.tieBreak
    ? left.tieBreak < right.tieBreak
    : left.sequence < right.sequence

const removeTop = (heap: Array<Timer>): Timer => {
  const top = heap[0]
  const last = heap.pop()!
  if (heap.length > 0) {
    heap[0] = last
    siftDown(heap, 0)
  }
  return top
}

const siftUp = (heap: Array<Timer>, start: number): void => {
  let index = start
  const timer = heap[index]
  while (index > 0) {
    const parent = (index - 1) >> 1
    if (!timerPrecedes(timer, heap[parent])) break
    heap[index] = heap[parent]
    index = parent
  }
  heap[index] = timer
}

const siftDown = (heap: Array<Timer>, start: number): void => {
  let index = start
  const timer = heap[index]
  const length = heap.length
  while (true) {
    const left = 2 * index + 1
    if (left >= length) break
    const right = left + 1
    const child = right < length && timerPrecedes(heap[right], heap[left]) ? right : left
    if (!timerPrecedes(heap[child], timer)) break
    heap[index] = heap[child]
    index = child
  }
  heap[index] = timer
}

export interface ReadyQueue {
  readonly push: (task: () => void, priority: number) => void
  /** The next task: lowest priority number first; FIFO or seed-chosen within a priority. */
  readonly take: () => () => void
  readonly size: () => number
}

interface Bucket {
  readonly priority: number
  readonly tasks: Array<() => void>
  head: number
}

const compactHeadMin = 1024

/**
 * The ready tasks: fiber tasks Effect's dispatcher queued to run at the current instant. Priority
 * buckets like Effect's `PriorityBuckets` (lower number first), each a FIFO array with a moving
 * head. With a `Prng`, the next task is drawn among those of the lowest priority instead.
 */
export const makeReadyQueue = (shuffle: Prng | undefined): ReadyQueue => {
  const buckets: Array<Bucket> = [{ priority: 0, tasks: [], head: 0 }]
  let tasksReady = 0

  const push = (task: () => void, priority: number): void => {
    let index = 0
    while (index < buckets.length && buckets[index].priority < priority) index++
    if (index === buckets.length || buckets[index].priority !== priority) {
      buckets.splice(index, 0, { priority, tasks: [], head: 0 })
    }
    buckets[index].tasks.push(task)
    tasksReady++
  }

  const take = (): (() => void) => {
    assert(tasksReady > 0, "a task is ready when one is taken")
    let bucket = buckets[0]
    for (let index = 1; bucket.head === bucket.tasks.length; index++) bucket = buckets[index]
    const tasks = bucket.tasks
    if (shuffle !== undefined) {
      const pick = bucket.head + shuffle.nextInt(tasks.length - bucket.head)
      const picked = tasks[pick]
      tasks[pick] = tasks[bucket.head]
      tasks[bucket.head] = picked
    }
    const task = tasks[bucket.head]
    bucket.head++
    if (bucket.head === tasks.length) {
      tasks.length = 0
      bucket.head = 0
    } else if (bucket.head >= compactHeadMin && bucket.head * 2 >= tasks.length) {
      // A queue that never empties (steady ping-pong) would otherwise grow without bound.
      tasks.splice(0, bucket.head)
      bucket.head = 0
    }
    tasksReady--
    return task
  }

  return { push, take, size: () => tasksReady }
}

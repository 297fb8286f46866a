/**
 * Traces of simulated runs: a recorder, a determinism hash, and Chrome trace-event export.
 *
 * Everything that happens in a run is recorded with its virtual time: engine operations as
 * spans on the engine track, calls as spans on each rank's track, faults and exits as instant
 * events. The same seed must give the same events in the same order, so the hash of the event
 * list is the run's fingerprint: `--check-determinism` runs a seed twice and compares hashes.
 * Nothing process-specific (fiber ids, wall time) may enter an event, or the hash would differ
 * between two identical runs. The export is Chrome's trace-event JSON, which Perfetto opens.
 */
import { assert } from "../core/assert.ts"
import { canonicalJson } from "../core/control.ts"

export type Track = "engine" | "executor" | { readonly rank: number }

export interface TraceEvent {
  readonly track: Track
  readonly name: string
  readonly atMs: number
  /** Present for spans; instants have none. */
  readonly durationMs?: number | undefined
  readonly args?: Readonly<Record<string, unknown>> | undefined
}

export interface TraceRecorder {
  readonly span: (track: Track, name: string, startMs: number, endMs: number, args?: Record<string, unknown>) => void
  readonly instant: (track: Track, name: string, atMs: number, args?: Record<string, unknown>) => void
  readonly events: () => ReadonlyArray<TraceEvent>
  /** How many events were dropped because the recorder was full. */
  readonly dropped: () => number
}

/**
 * A recorder holding at most `eventsMax` events. Past the bound events are counted, not kept:
 * the hash still covers the count, so determinism checking keeps working on long runs.
 */
export const makeTraceRecorder = (eventsMax = 200_000): TraceRecorder => {
  assert(eventsMax >= 0, "a trace holds a non-negative number of events")
  const events: Array<TraceEvent> = []
  let dropped = 0
  const push = (event: TraceEvent) => {
    if (events.length < eventsMax) events.push(event)
    else dropped++
  }
  return {
    span: (track, name, startMs, endMs, args) => {
      assert(endMs >= startMs, "a span ends no earlier than it starts")
      push({ track, name, atMs: startMs, durationMs: endMs - startMs, args })
    },
    instant: (track, name, atMs, args) => push({ track, name, atMs, args }),
    events: () => events,
    dropped: () => dropped
  }
}

/** A 64-bit FNV-1a hash (as 16 hex digits) of the events in order, plus the dropped count. */
export const traceHash = (events: ReadonlyArray<TraceEvent>, dropped = 0): string => {
  // Two 32-bit FNV-1a lanes with different offsets: plenty for telling two runs apart.
  let low = 0x811c9dc5
  let high = 0x01000193 ^ 0x5bd1e995
  const feed = (text: string) => {
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index)
      low = Math.imul(low ^ code, 0x01000193)
      high = Math.imul(high ^ code ^ (low >>> 7), 0x01000193)
    }
  }
  for (const event of events) feed(canonicalJson(event))
  feed(`dropped:${dropped}`)
  return (high >>> 0).toString(16).padStart(8, "0") + (low >>> 0).toString(16).padStart(8, "0")
}

const threadOf = (track: Track): number => (track === "engine" ? 1 : track === "executor" ? 2 : 10 + track.rank)

const threadName = (track: Track): string =>
  track === "engine" ? "engine" : track === "executor" ? "executor" : `rank ${track.rank}`

/**
 * Chrome trace-event JSON: one process, one thread per track (engine, executor, each rank),
 * spans as complete events (`ph: "X"`) and instants as `ph: "i"`. Times are microseconds.
 */
export const toChromeTrace = (events: ReadonlyArray<TraceEvent>, worldSize: number, label: string) => {
  const tracks: Array<Track> = ["engine", "executor", ...Array.from({ length: worldSize }, (_, rank) => ({ rank }))]
  const metadata = [
    { name: "process_name", ph: "M", pid: 1, tid: 0, args: { name: label } },
    ...tracks.map((track) => ({ name: "thread_name", ph: "M", pid: 1, tid: threadOf(track), args: { name: threadName(track) } })),
    ...tracks.map((track) => ({ name: "thread_sort_index", ph: "M", pid: 1, tid: threadOf(track), args: { sort_index: threadOf(track) } }))
  ]
  const body = events.map((event) => event.durationMs === undefined
    ? { name: event.name, cat: "rankwise", ph: "i", s: "t", ts: event.atMs * 1000, pid: 1, tid: threadOf(event.track), args: event.args ?? {} }
    : { name: event.name, cat: "rankwise", ph: "X", ts: event.atMs * 1000, dur: event.durationMs * 1000, pid: 1, tid: threadOf(event.track), args: event.args ?? {} })
  return { traceEvents: [...metadata, ...body], displayTimeUnit: "ms" }
}

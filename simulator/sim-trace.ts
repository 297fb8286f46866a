/**
 * Turns the simulated cluster's events into trace events and fault-space coverage.
 *
 * A rank's `received` and `replied` for one wave become one span on that rank's track; faults
 * and exits become instants. Every fault point that fires is counted under
 * `point|method|phase`, which is the coverage table a sweep prints: it shows which corners of
 * the fault space the seeds actually reached, not just which were enabled.
 */
import type { SimEvent } from "../backends/sim/cluster.ts"
import type { TraceRecorder } from "./trace.ts"

export const simEventTracer = (
  recorder: TraceRecorder,
  coverage: Map<string, number>,
  phase: () => string
) => {
  // Calls in progress per rank and wave: a rank serves one call at a time, but keys stay exact.
  const started = new Map<string, number>()
  return (event: SimEvent): void => {
    const key = `${event.rank}/${event.waveId ?? "-"}`
    switch (event.kind) {
      case "received":
        started.set(key, event.atMs)
        return
      case "replied": {
        const startMs = started.get(key) ?? event.atMs
        started.delete(key)
        recorder.span({ rank: event.rank }, event.method ?? "call", startMs, event.atMs, { wave: event.waveId ?? null })
        return
      }
      case "fault": {
        const point = event.point ?? "fault"
        const coverageKey = `${point}|${event.method ?? "-"}|${phase()}`
        coverage.set(coverageKey, (coverage.get(coverageKey) ?? 0) + 1)
        recorder.instant({ rank: event.rank }, point, event.atMs, { method: event.method ?? null, wave: event.waveId ?? null })
        return
      }
      case "exited":
        recorder.instant({ rank: event.rank }, "exited", event.atMs, { detail: event.detail ?? null })
        return
    }
  }
}

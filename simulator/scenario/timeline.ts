/**
 * A scenario run as a timeline: what the report draws for a backend that has no trace recorder.
 *
 * Real ranks run on the wall clock, outside the simulator's recorder, but a scenario report
 * already says when each step started and ended and what every rank answered. This turns that
 * into the same trace events a simulated run records, so the report's timeline (and its Chrome
 * trace for Perfetto) shows a real-fault scenario too: each engine operation as a span on the
 * engine track, signals (SIGKILL, SIGSTOP, SIGCONT) and injected faults as instants on the rank
 * they hit, each rank's outcome of a collective as an instant on that rank, a request submitted
 * without waiting as one span from its submit to the end of its await, and at the end whether
 * each rank is still alive. Times start at the first step.
 */
import type { Scenario, Step } from "./format.ts"
import type { ScenarioReport, StepReport } from "./run.ts"
import type { TraceEvent, Track } from "../trace.ts"

const signalNames: Readonly<Record<string, string>> = { kill: "SIGKILL", stop: "SIGSTOP", resume: "SIGCONT" }

/** The trace events of one scenario run; empty when the run never started. */
export const scenarioTimeline = (scenario: Scenario, report: ScenarioReport): ReadonlyArray<TraceEvent> => {
  const steps = report.steps
  if (steps.length === 0 || steps[0].op === "start") return []
  const originMs = steps[0].startedMs
  const events: Array<TraceEvent> = []
  const submittedMs = new Map<string, number>()
  steps.forEach((stepReport, index) => {
    const step = scenario.steps[index]
    events.push(...stepEvents(step, stepReport, originMs))
    if (step?.op === "submit" && step.wait === false) {
      const requestId = requestIdOf(step)
      if (requestId !== undefined) submittedMs.set(requestId, stepReport.startedMs - originMs)
    }
    const startMs = step?.op === "await" ? submittedMs.get(step.requestId) : undefined
    if (step?.op === "await" && startMs !== undefined) {
      const endMs = Math.max(startMs, stepReport.atMs - originMs)
      events.push({ track: "engine", name: `request ${step.requestId}`, atMs: startMs, durationMs: endMs - startMs, args: outcomeArgs(stepReport) })
    }
  })
  const endMs = (steps.at(-1)?.atMs ?? originMs) - originMs
  for (const rank of report.final.ranks) {
    events.push(rank.alive ? { track: { rank: rank.rank }, name: "alive at the end", atMs: endMs, args: { ok: true } } : { track: { rank: rank.rank }, name: "exited", atMs: endMs })
  }
  return events
}

const stepEvents = (step: Step | undefined, report: StepReport, originMs: number): ReadonlyArray<TraceEvent> => {
  const startMs = report.startedMs - originMs
  const endMs = Math.max(startMs, report.atMs - originMs)
  const signal = signalNames[report.op]
  if (signal !== undefined && step !== undefined && "rank" in step) {
    return [{ track: { rank: step.rank }, name: signal, atMs: startMs, ...(report.ok ? {} : { args: { delivered: false, error: report.error?._tag ?? "failed" } }) }]
  }
  if (report.op === "inject" && step?.op === "inject") {
    const fault = step.fault as { readonly rank?: number; readonly kind?: string; readonly method?: string }
    const track: Track = typeof fault.rank === "number" ? { rank: fault.rank } : "engine"
    return [{ track, name: `inject ${fault.kind ?? "fault"}${fault.method === undefined ? "" : ` in ${fault.method}`}`, atMs: startMs }]
  }
  if (report.op === "advance") return []
  const span: TraceEvent = { track: "engine", name: spanName(step, report), atMs: startMs, durationMs: endMs - startMs, args: outcomeArgs(report) }
  const outcomes = (report.outcomes ?? []).map((outcome): TraceEvent =>
    ({ track: { rank: outcome.rank }, name: `${report.op}: ${outcome.tag}`, atMs: endMs, args: { ok: outcome.tag === "Ok", outcome: outcome.tag } }))
  return [span, ...outcomes]
}

const spanName = (step: Step | undefined, report: StepReport): string => {
  if (step?.op === "submit") {
    const requestId = requestIdOf(step)
    return requestId === undefined ? "submit" : `submit ${requestId}`
  }
  if (step?.op === "await") return `await ${step.requestId}`
  return report.op
}

const requestIdOf = (step: Extract<Step, { readonly op: "submit" }>): string | undefined => {
  const requestId = (step.request as { readonly requestId?: unknown } | null)?.requestId
  return typeof requestId === "string" ? requestId : undefined
}

const outcomeArgs = (report: StepReport): Record<string, unknown> =>
  report.ok ? { ok: true } : { ok: false, error: report.error?._tag ?? "failed" }

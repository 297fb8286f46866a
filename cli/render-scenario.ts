/**
 * The readable form of a scenario report: a step-by-step table, the ranks' ground truth at the
 * end, and the expectations the run did or did not meet.
 */
import type { ScenarioReport, StepReport } from "../simulator/scenario/run.ts"

/** A step-by-step table for people: op, verdict, per-rank outcomes, and a short result. */
export const renderTable = (report: ScenarioReport): string => {
  const rows = report.steps.map((step, index) => [
    String(index + 1),
    step.op,
    step.ok ? "ok" : "FAIL",
    step.outcomes ? step.outcomes.map((outcome) => `${outcome.rank}:${outcome.tag}`).join(" ") : "",
    `${step.atMs}`,
    summarize(step)
  ])
  const header = ["#", "op", "result", "ranks", "at ms", "detail"]
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]))).join("  ")
  const ranks = report.final.ranks.map((rank) =>
    `  rank ${rank.rank}: ${rank.alive ? "alive" : "stopped"}${rank.asleep ? ", asleep" : ""}, adapters [${rank.loras.join(", ")}]`)
  const mismatches = (report.expectations?.mismatches ?? []).map((mismatch) =>
    `  MISMATCH ${mismatch.at}: expected ${JSON.stringify(mismatch.expected)}, got ${JSON.stringify(mismatch.actual)}`)
  const expectations = report.expectations
    ? [`expectations: ${report.expectations.checked - mismatches.length} of ${report.expectations.checked} met`, ...mismatches]
    : []
  return [
    `seed ${report.seed}`,
    line(header),
    ...rows.map(line),
    "",
    `engine state: ${report.final.engineState}`,
    "ranks (ground truth):",
    ...ranks,
    ...expectations,
    ""
  ].join("\n")
}

const detailWidthMax = 110

const summarize = (step: StepReport): string => {
  const text = step.ok ? describeValue(step.value) : `${step.error?._tag}: ${step.error?.message}`
  return text.length > detailWidthMax ? `${text.slice(0, detailWidthMax - 1)}…` : text
}

const describeValue = (value: unknown): string => {
  if (value === undefined) return ""
  const object = value as Record<string, unknown>
  if (object && typeof object === "object" && "state" in object && "survivingRanks" in object) {
    return `close: ${String(object.state)}, stopped [${String(object.stoppedRanks)}], surviving [${String(object.survivingRanks)}]`
  }
  if (object && typeof object === "object" && "output" in object && "requestId" in object) {
    const output = object.output as { primary?: string; batchSize?: number }
    return `${String(object.requestId)}: ${output.batchSize} ${output.primary} output(s) in batch ${String(object.batchId)}`
  }
  return JSON.stringify(value, (_key, inner) => (Array.isArray(inner) && inner.length > 8 ? `[${inner.length} items]` : inner))
}

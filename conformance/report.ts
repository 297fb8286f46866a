/**
 * Rendering conformance and mutant reports as text tables for people.
 *
 * The JSON form of a report is the report object itself (`JSON.stringify(report)`); this module
 * only draws the tables: one row per property (runs, verdict, shortest counterexample, replay
 * line) and one row per mutant (killed by). Long cells are cut to a width with an ellipsis, except
 * the replay line, which must stay whole to be pasted.
 */
import type { MutantReport } from "./mutants/run.ts"
import type { ConformanceReport } from "./runner.ts"

const counterexampleWidth = 60
const reasonWidth = 300

/** Cuts `text` to `width` characters on one line, marking the cut with an ellipsis. */
export const truncate = (text: string, width: number): string => {
  const line = text.replace(/\s+/g, " ")
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`
}

/** Draws rows as columns padded to their widest cell; the last column is left unpadded. */
export const renderTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]?.length ?? 0)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]))).join("  ").trimEnd()
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n")
}

/** The conformance report as a table, then each failure's reason. */
export const renderConformanceReport = (report: ConformanceReport): string => {
  const rows = report.properties.map((property) => [
    property.id,
    String(property.runs),
    property.verdict,
    truncate(property.counterexample ?? (property.verdict === "skipped" ? property.reason ?? "" : ""), counterexampleWidth),
    property.replay ?? ""
  ])
  const { passed, failed, skipped } = report.totals
  const policy = report.policy !== undefined && Object.keys(report.policy).length > 0 ? ` policy ${JSON.stringify(report.policy)}` : ""
  const reasons = report.properties
    .filter((property) => property.verdict === "failed" || (property.verdict === "passed" && property.reason !== undefined))
    .map((property) => `${property.id}: ${truncate(property.reason ?? "", reasonWidth)}`)
  return [
    `conformance on ${report.backend}, seed ${report.seed}, ${report.numRuns} runs per property${policy}`,
    renderTable(["property", "runs", "verdict", "counterexample", "replay"], rows),
    `${passed} passed, ${failed} failed, ${skipped} skipped in ${report.durationMs} ms`,
    ...reasons
  ].join("\n")
}

/** The mutant report as a table: who killed each mutant, and whether an expected killer did. */
export const renderMutantReport = (report: MutantReport): string => {
  const rows = report.mutants.map((mutant) => [
    mutant.id,
    mutant.killed ? "killed" : "SURVIVED",
    mutant.killedBy.join(", ") || "-",
    mutant.expectedKillerHit ? mutant.expectedKillers.join(", ") : `${mutant.expectedKillers.join(", ")} (missed)`,
    `${mutant.durationMs} ms`
  ])
  const { mutants, killed, survived, expectedKillerMissed } = report.totals
  return [
    `mutants on ${report.backend}, seed ${report.seed}`,
    renderTable(["mutant", "verdict", "killed by", "expected killers", "time"], rows),
    `${killed} of ${mutants} killed, ${survived} survived, ${expectedKillerMissed} missed by their expected killers, in ${report.durationMs} ms`
  ].join("\n")
}

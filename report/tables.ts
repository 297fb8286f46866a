/**
 * The report's tables: conformance verdicts, mutants, rare paths and failed seeds.
 *
 * Each table answers one question a reader has. Conformance: which properties hold, and for a
 * failure the shortest counterexample with the one line that replays it. Mutants: did the suites
 * catch each broken core, and did the property written for it do the catching. Rare paths: did
 * the simulated seeds reach the corners worth reaching. Every value is escaped (escape.ts).
 */
import type { PropertyReport, ConformanceReport } from "../conformance/runner.ts"
import type { MutantReport, MutantResult } from "../conformance/mutants/run.ts"
import type { ScenarioRun } from "./model.ts"
import type { SweepReport } from "../simulator/sweep.ts"
import { escapeHtml, truncateText } from "./escape.ts"

/** Counterexamples longer than this are cut in the cell; the tooltip keeps the whole text. */
const counterexampleCellMax = 240

/** One row per property: id, statement, runs, verdict, shortest counterexample, replay line. */
export const conformanceTable = (report: ConformanceReport): string => {
  const caption = `Conformance on ${report.backend}: seed ${report.seed}, up to ${report.numRuns} runs per property; `
    + `${report.totals.passed} passed, ${report.totals.failed} failed, ${report.totals.skipped} skipped in ${formatMs(report.durationMs)}`
  const rows = report.properties.map(propertyRow).join("\n")
  return table("conformance", caption, ["property", "statement", "runs", "verdict", "shortest counterexample", "replay"], rows)
}

const propertyRow = (property: PropertyReport): string => {
  const reason = property.reason === undefined ? "" : `<div class="reason">${escapeHtml(property.reason)}</div>`
  return `<tr data-property="${escapeHtml(property.id)}">`
    + `<td class="id">${escapeHtml(property.id)}</td>`
    + `<td>${escapeHtml(property.statement)}${reason}</td>`
    + `<td class="num">${property.runs}</td>`
    + `<td>${pill(property.verdict, property.verdict)}</td>`
    + `<td>${codeCell(property.counterexample, counterexampleCellMax)}</td>`
    + `<td>${codeCell(property.replay, Number.POSITIVE_INFINITY)}</td></tr>`
}

/** One row per mutant: who killed it, and whether an expected killer was among them. */
export const mutantTable = (report: MutantReport): string => {
  const { totals } = report
  const caption = `Mutants on ${report.backend}: seed ${report.seed}; ${totals.killed} of ${totals.mutants} killed, `
    + `${totals.survived} survived, ${totals.expectedKillerMissed} missed by their expected killers, in ${formatMs(report.durationMs)}`
  const rows = report.mutants.map(mutantRow).join("\n")
  return table("mutants", caption, ["mutant", "what is broken", "verdict", "killed by", "expected killers"], rows)
}

const mutantRow = (mutant: MutantResult): string => {
  const verdict = !mutant.killed ? pill("failed", "survived") : mutant.expectedKillerHit ? pill("passed", "killed") : pill("warning", "killed, unexpected")
  const killedBy = mutant.killedBy.length === 0 ? "<span class=\"muted\">none</span>" : mutant.killedBy.map((id) => `<span class="id">${escapeHtml(id)}</span>`).join(" ")
  // An expected killer that did the killing is marked, so a blind property stands out.
  const expected = mutant.expectedKillers.map((id) =>
    `<span class="id${mutant.killedBy.includes(id) ? " hit" : ""}">${escapeHtml(id)}</span>`).join(" ")
  return `<tr data-mutant="${escapeHtml(mutant.id)}">`
    + `<td class="id">${escapeHtml(mutant.id)}</td><td>${escapeHtml(mutant.description)}</td>`
    + `<td>${verdict}</td><td>${killedBy}</td><td>${expected}</td></tr>`
}

/** One row per scripted scenario: what it does, the expectations it met, and any it missed. */
export const scenarioTable = (runs: ReadonlyArray<ScenarioRun>): string => {
  const rows = runs.map((run) => {
    const checked = run.report.expectations?.checked ?? 0
    const mismatches = run.report.expectations?.mismatches ?? []
    const started = run.report.steps[0]?.op !== "start" || run.report.steps[0].ok
    const verdict = started && mismatches.length === 0 ? pill("passed", "passed") : pill("failed", started ? "failed" : "did not start")
    const missed = mismatches.map((mismatch) => `${mismatch.at}: expected ${JSON.stringify(mismatch.expected)}, got ${JSON.stringify(mismatch.actual)}`).join("; ")
    return `<tr><td class="id">${escapeHtml(run.name)}</td><td>${escapeHtml(run.description)}</td>`
      + `<td class="num">${checked - mismatches.length} of ${checked}</td><td>${verdict}</td><td>${codeCell(missed || undefined, 240)}</td></tr>`
  }).join("\n")
  return table("scenarios", "Real-fault scenarios", ["scenario", "what it does", "expectations met", "verdict", "missed"], rows)
}

/** Rare paths and how many seeds reached each; required paths nobody reached come last, in red. */
export const pathsTable = (sweep: SweepReport): string => {
  const reached = sweep.paths.map((entry) =>
    `<tr><td class="id">${escapeHtml(entry.path)}</td><td class="num">${entry.seeds} of ${sweep.seeds}</td><td>${pill("passed", "reached")}</td></tr>`)
  const missing = sweep.missingPaths.map((path) =>
    `<tr><td class="id">${escapeHtml(path)}</td><td class="num">0 of ${sweep.seeds}</td><td>${pill("failed", "not reached")}</td></tr>`)
  const rows = [...reached, ...missing]
  if (rows.length === 0) return "<p class=\"muted\">No rare path was reached.</p>"
  return table("paths", "Rare paths reached", ["path", "seeds", ""], rows.join("\n"))
}

/** Failed seeds with the violated invariant and the replay line; nothing when every seed passed. */
export const sweepFailuresTable = (sweep: SweepReport): string => {
  if (sweep.failures.length === 0) return ""
  const rows = sweep.failures.map((failure) =>
    `<tr><td class="num">${failure.seed}</td><td>${pill("failed", failure.status)}</td>`
    + `<td>${escapeHtml(failure.violation ? `${failure.violation.invariant}: ${failure.violation.message}` : "")}</td>`
    + `<td>${codeCell(failure.replay, Number.POSITIVE_INFINITY)}</td></tr>`).join("\n")
  return table("sweep-failures", "Failed seeds", ["seed", "phase", "violation", "replay"], rows)
}

// ---------------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------------

/** A coloured label; `kind` picks the colour (passed, failed, skipped, warning). */
export const pill = (kind: string, text: string): string =>
  `<span class="pill ${escapeHtml(kind)}">${escapeHtml(text)}</span>`

const codeCell = (text: string | undefined, lengthMax: number): string =>
  text === undefined ? "" : `<code title="${escapeHtml(text)}">${escapeHtml(truncateText(text, lengthMax))}</code>`

const table = (name: string, caption: string, headers: ReadonlyArray<string>, rows: string): string =>
  `<table class="${name}"><caption>${escapeHtml(caption)}</caption>`
  + `<thead><tr>${headers.map((header) => `<th>${escapeHtml(header)}</th>`).join("")}</tr></thead>`
  + `<tbody>\n${rows}\n</tbody></table>`

export const formatMs = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`)

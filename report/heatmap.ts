/**
 * The fault-coverage matrix as a heat map: which corners of the fault space the seeds reached.
 *
 * Rows are fault point and method, columns are phases, and each cell that fired is coloured by
 * log(fired), so a point that fired twice still shows against one that fired a thousand times.
 * A cell's tooltip gives the exact counts (fired, and in how many of the sweep's seeds). Cells
 * that never fired are drawn blank: an empty row or column is the finding, since a fault that
 * never fires proves nothing about how the core handles it. A coloured table rather than an SVG,
 * so the numbers stay selectable text and the page reads without a browser's SVG layout.
 */
import type { CoverageRow, SweepReport } from "../simulator/sweep.ts"
import { escapeHtml } from "./escape.ts"

/** Phases shown in this order first; any other phase the data names follows, sorted. */
const knownPhases = ["safety", "liveness"]

/** One `<table>`: a row per fault point and method, a column per phase, a cell per coverage row. */
export const coverageHeatmap = (sweep: SweepReport): string => {
  if (sweep.coverage.length === 0) return "<p class=\"muted\">No fault point fired in this sweep.</p>"
  const phases = phaseColumns(sweep.coverage)
  const firedMax = Math.max(...sweep.coverage.map((row) => row.fired))
  const header = `<thead><tr><th>fault point</th><th>method</th>${phases.map((phase) => `<th>${escapeHtml(phase)}</th>`).join("")}</tr></thead>`
  const body = [...groupByPoint(sweep.coverage)].map(([point, methods]) =>
    [...methods].map(([method, byPhase], index) => {
      // The point is named once, spanning its methods' rows, so the groups read at a glance.
      const pointCell = index === 0 ? `<th class="id point" rowspan="${methods.size}">${escapeHtml(point)}</th>` : ""
      const cells = phases.map((phase) => {
        const row = byPhase.get(phase)
        return row === undefined ? "<td class=\"cold\">–</td>" : heatCell(row, firedMax, sweep.seeds)
      })
      return `<tr>${pointCell}<th class="id">${escapeHtml(method)}</th>${cells.join("")}</tr>`
    }).join("\n")).join("\n")
  const caption = `Over ${sweep.seeds} seed(s) from ${sweep.baseSeed}, ${sweep.coverage.length} point × method × phase cells fired. `
    + "A cell shows how many times the fault fired and in how many seeds; its colour scales with log(fired). A blank cell never fired."
  return `<p class="muted">${escapeHtml(caption)}</p><table class="heatmap">${header}<tbody>\n${body}\n</tbody></table>${legend(firedMax)}`
}

export const phaseColumns = (coverage: ReadonlyArray<CoverageRow>): ReadonlyArray<string> => {
  const seen = new Set(coverage.map((row) => row.phase))
  return [...knownPhases, ...[...seen].filter((phase) => !knownPhases.includes(phase)).sort()]
}

/** point → method → phase → row, in the sweep's order (it sorts by point, method, phase). */
const groupByPoint = (coverage: ReadonlyArray<CoverageRow>): Map<string, Map<string, Map<string, CoverageRow>>> => {
  const points = new Map<string, Map<string, Map<string, CoverageRow>>>()
  for (const row of coverage) {
    const methods = points.get(row.point) ?? new Map<string, Map<string, CoverageRow>>()
    const byPhase = methods.get(row.method) ?? new Map<string, CoverageRow>()
    byPhase.set(row.phase, row)
    methods.set(row.method, byPhase)
    points.set(row.point, methods)
  }
  return points
}

const heatCell = (row: CoverageRow, firedMax: number, seeds: number): string => {
  const heat = heatOf(row.fired, firedMax)
  const tooltip = `${row.point} · ${row.method} · ${row.phase}: fired ${row.fired} time(s), in ${row.seeds} of ${seeds} seed(s)`
  return `<td class="hot" data-coverage="${escapeHtml(`${row.point}|${row.method}|${row.phase}`)}" title="${escapeHtml(tooltip)}" `
    + `style="background:${heatColour(heat)};color:${heat > 0.55 ? "#fff" : "#1f2937"}">${row.fired}<small> in ${row.seeds} seed${row.seeds === 1 ? "" : "s"}</small></td>`
}

/** Heat of a cell that fired once: above 0, so a single firing is visibly warm. */
const heatMin = 0.12

/** heatMin..1 on a log scale: one firing gives heatMin, the most-fired cell 1. */
export const heatOf = (fired: number, firedMax: number): number =>
  firedMax <= 1 ? 1 : heatMin + (1 - heatMin) * Math.min(1, Math.log(Math.max(1, fired)) / Math.log(firedMax))

/** Pale amber to deep red; the colour never reaches white, so a fired cell differs from a blank one. */
export const heatColour = (heat: number): string => {
  const hue = Math.round(48 - 44 * heat)
  const lightness = Math.round(84 - 44 * heat)
  return `hsl(${hue} 90% ${lightness}%)`
}

const legend = (firedMax: number): string => {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((step) => heatColour(heatMin + (1 - heatMin) * step)).join(", ")
  return `<div class="legend"><span>fired 1</span><span class="ramp" style="background:linear-gradient(90deg, ${stops})"></span>`
    + `<span>fired ${firedMax}</span><span class="muted">hover a cell for its counts</span></div>`
}

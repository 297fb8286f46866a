/**
 * The report page: one self-contained HTML document rendered from a `RankwiseReport`.
 *
 * The page opens with what Rankwise checked and the overall verdict, so a reader who stops after
 * the first screen still knows the answer; then one section per backend with the conformance
 * table, the mutants, the fault-coverage heat map and rare paths, one run's timeline and the
 * image gallery. Everything is inline (CSS, SVG); images and the trace file are referenced by
 * relative names inside the report folder. Every piece of text is escaped (escape.ts).
 */
import { escapeHtml, folderUrl } from "./escape.ts"
import { coverageHeatmap } from "./heatmap.ts"
import { type BackendReport, type RankwiseReport, type ReportImage, reportVerdict, type ReportVerdict } from "./model.ts"
import { stylesheet } from "./style.ts"
import { conformanceTable, formatMs, mutantTable, pathsTable, pill, scenarioTable, sweepFailuresTable } from "./tables.ts"
import { timelineSection } from "./timeline.ts"

/** The page's title, which also names the verdict: "Rankwise report: passed" or "…: FAILED". */
export const pageTitle = (verdict: ReportVerdict): string => `Rankwise report: ${verdict.ok ? "passed" : "FAILED"}`

/** Renders the whole page. Pure: the same report gives the same bytes. */
export const renderReportHtml = (report: RankwiseReport): string => {
  const verdict = reportVerdict(report)
  return [
    "<!doctype html>",
    "<html lang=\"en\"><head><meta charset=\"utf-8\">",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    `<title>${escapeHtml(pageTitle(verdict))}</title>`,
    `<style>${stylesheet}</style></head><body>`,
    pageHeader(report, verdict),
    `<main>${report.backends.map(backendSection).join("\n")}</main>`,
    "<footer class=\"meta\">report.json beside this page holds every number shown here, and more (each property run of each mutant).</footer>",
    "</body></html>",
    ""
  ].join("\n")
}

const pageHeader = (report: RankwiseReport, verdict: ReportVerdict): string => {
  const names = report.backends.map((entry) => entry.backend)
  const badge = verdict.ok ? pill("passed", "PASSED") : pill("failed", "FAILED")
  const lead = `Rankwise checked the control plane of multi-rank serving on ${names.length === 1 ? "backend" : "backends"} `
    + `${names.map((name) => `<b>${escapeHtml(name)}</b>`).join(", ")}: that every all-rank call reports one typed outcome per rank, `
    + "that a call applied on some ranks only is compensated or reported, and that close always returns with a report of what still runs. "
    + "Conformance properties test those contracts; mutants (deliberately broken cores) prove the properties can fail; "
    + "simulated seeds with random faults show which corners of the fault space were reached."
  const problems = verdict.problems.length === 0
    ? ""
    : `<ul class="problems">${verdict.problems.map((problem) => `<li>${escapeHtml(problem)}</li>`).join("")}</ul>`
  return `<header><h1>Rankwise report ${badge}</h1><p class="lead">${lead}</p>`
    + `<ul class="cards">${report.backends.flatMap(summaryCards).join("")}</ul>${problems}${metaLine(report)}</header>`
}

/** Three numbers per backend a reader looks for first: properties, mutants, seeds. */
const summaryCards = (entry: BackendReport): ReadonlyArray<string> => {
  const { conformance, mutants, sweep } = entry
  const cards = [card(conformance.totals.failed === 0, `${conformance.totals.passed} / ${conformance.properties.length}`,
    `${entry.backend}: properties passed${conformance.totals.skipped > 0 ? ` (${conformance.totals.skipped} skipped)` : ""}`)]
  if (mutants) cards.push(card(mutants.totals.survived === 0, `${mutants.totals.killed} / ${mutants.totals.mutants}`, `${entry.backend}: mutants killed`))
  if (sweep) {
    cards.push(card(sweep.failures.length === 0 && sweep.missingPaths.length === 0, `${sweep.passed} / ${sweep.seeds}`,
      `${entry.backend}: simulated seeds passed, ${sweep.coverage.length} fault cells, ${sweep.paths.length} rare paths`))
  }
  return cards
}

const card = (ok: boolean, value: string, label: string): string =>
  `<li class="card${ok ? "" : " failed"}"><b>${escapeHtml(value)}</b><span>${escapeHtml(label)}</span></li>`

const metaLine = (report: RankwiseReport): string => {
  const timings = Object.entries(report.timings).map(([stage, ms]) => `${stage} ${formatMs(ms)}`).join(", ")
  return `<p class="meta">Created ${escapeHtml(report.createdAt)} on ${escapeHtml(report.runtime.name)} ${escapeHtml(report.runtime.version)}`
    + `${timings === "" ? "" : `; timings: ${escapeHtml(timings)}`}; report format ${report.version}.</p>`
}

const backendSection = (entry: BackendReport): string => {
  const parts = [
    `<h2>Backend ${escapeHtml(entry.backend)}</h2>`,
    "<h3>Conformance properties</h3>",
    `<div class="scroll">${conformanceTable(entry.conformance)}</div>`
  ]
  if (entry.mutants) parts.push("<h3>Mutants</h3>", `<div class="scroll">${mutantTable(entry.mutants)}</div>`)
  if (entry.scenarios && entry.scenarios.length > 0) {
    parts.push("<h3>Real faults</h3>", `<div class="scroll">${scenarioTable(entry.scenarios)}</div>`)
  }
  if (entry.sweep) {
    const sweep = entry.sweep
    parts.push(
      "<h3>Fault coverage</h3>",
      `<p class="muted">${sweep.seeds} seed(s) from ${sweep.baseSeed}: ${sweep.passed} passed, ${sweep.failures.length} failed; `
        + `${sweep.operations} operations over ${(sweep.virtualMs / 1000).toFixed(1)} virtual seconds.</p>`,
      `<div class="scroll">${coverageHeatmap(sweep)}</div>`,
      `<div class="scroll">${sweepFailuresTable(sweep)}</div>`,
      "<h3>Rare paths</h3>",
      pathsTable(sweep)
    )
  }
  if (entry.timeline) {
    const traceUrl = entry.timeline.traceFile === undefined ? undefined : folderUrl(entry.timeline.traceFile)
    parts.push("<h3>Timeline of one run</h3>", timelineSection(entry.timeline, traceUrl))
  }
  if (entry.images && entry.images.length > 0) parts.push("<h3>Images</h3>", gallery(entry.images))
  return `<section class="backend" id="backend-${escapeHtml(entry.backend)}">${parts.join("\n")}</section>`
}

/** Captioned images from the report folder; an image whose name would leave the folder is named, not shown. */
const gallery = (images: ReadonlyArray<ReportImage>): string =>
  `<div class="gallery">${images.map((image) => {
    const url = folderUrl(image.file)
    const body = url === undefined
      ? `<p class="reason">refused image path ${escapeHtml(image.file)}</p>`
      : `<img src="${escapeHtml(url)}" alt="${escapeHtml(image.caption)}">`
    return `<figure>${body}<figcaption>${escapeHtml(image.caption)}</figcaption></figure>`
  }).join("")}</div>`

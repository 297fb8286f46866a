/**
 * Writes a report folder: `report.json` (the whole model), `index.html` (the page) and, for each
 * timeline that names a `traceFile`, its Chrome trace-event JSON (opens in Perfetto).
 *
 * When to use: at the end of a CI run or a `rankwise` command, after copying any images into the
 * folder. The writer owns the trace files because it holds the events; it does not copy images,
 * because only the caller knows where they come from, but it reports images that are not there,
 * so a broken gallery shows up in the caller's output rather than only in a browser.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { toChromeTrace } from "../simulator/trace.ts"
import { folderUrl } from "./escape.ts"
import { renderReportHtml } from "./html.ts"
import type { RankwiseReport } from "./model.ts"

export interface WrittenReport {
  readonly json: string
  readonly html: string
  /** Chrome trace files written, one per timeline with a `traceFile`. */
  readonly traces: ReadonlyArray<string>
  /** Images the page names that are not in the folder (relative names, as given). */
  readonly missingImages: ReadonlyArray<string>
}

/** A file name in the report would leave the report folder or names a URL scheme. */
export class ReportPathRefused extends Error {
  override readonly name = "ReportPathRefused"
  constructor(readonly file: string) {
    super(`report file ${JSON.stringify(file)} must be a relative path inside the report folder`)
  }
}

/** Writes the folder (created when missing) and returns the paths of what it wrote. */
export const writeReport = (folder: string, report: RankwiseReport): WrittenReport => {
  checkPaths(report)
  mkdirSync(folder, { recursive: true })
  const json = join(folder, "report.json")
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
  const traces = report.backends.flatMap((entry) => {
    const timeline = entry.timeline
    if (timeline?.traceFile === undefined) return []
    const path = join(folder, timeline.traceFile)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, JSON.stringify(toChromeTrace(timeline.events, timeline.worldSize, timeline.label)))
    return [path]
  })
  const html = join(folder, "index.html")
  writeFileSync(html, renderReportHtml(report))
  const missingImages = report.backends.flatMap((entry) => entry.images ?? [])
    .map((image) => image.file)
    .filter((file) => !existsSync(join(folder, file)))
  return { json, html, traces, missingImages }
}

/** Refuses, before writing anything, a trace or image name that would leave the folder. */
const checkPaths = (report: RankwiseReport): void => {
  for (const entry of report.backends) {
    const files = [...(entry.timeline?.traceFile === undefined ? [] : [entry.timeline.traceFile]), ...(entry.images ?? []).map((image) => image.file)]
    for (const file of files) if (folderUrl(file) === undefined) throw new ReportPathRefused(file)
  }
}

/**
 * Rankwise reports: a JSON model of what a run checked, and a self-contained HTML page of it.
 *
 * Use `writeReport(folder, report)` to write `report.json` and `index.html` (and the timeline's
 * Chrome trace); `renderReportHtml` for the page alone; `screenshotPage` (report/screenshot.ts,
 * needs playwright-core and Chromium) to check the page in a real browser.
 */
export {
  type BackendReport, currentRuntime, type RankwiseReport, type ReportImage, reportVerdict, type ReportVerdict, reportVersion,
  type RuntimeName, type Timeline
} from "./model.ts"
export { pageTitle, renderReportHtml } from "./html.ts"
export { ReportPathRefused, writeReport, type WrittenReport } from "./write.ts"

/**
 * Goal: a report folder holds report.json (the whole model, which parses back to the same report),
 * index.html, and the timeline's Chrome trace; images the page names but the folder lacks are
 * reported; a file name that would leave the folder is refused before anything is written.
 * Method: write the hand-built sample into fresh temporary folders.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, test } from "vitest"
import { ReportPathRefused, writeReport } from "../../report/write.ts"
import { sampleReport } from "./sample.ts"

const folders: Array<string> = []
const freshFolder = () => {
  const folder = mkdtempSync(join(tmpdir(), "rankwise-report-test-"))
  folders.push(folder)
  return folder
}
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

describe("writeReport", () => {
  test("writes report.json that parses back to the same report", () => {
    const written = writeReport(freshFolder(), sampleReport)
    expect(JSON.parse(readFileSync(written.json, "utf8"))).toEqual(sampleReport)
    expect(readFileSync(written.html, "utf8")).toContain("<title>Rankwise report: FAILED</title>")
  })

  test("writes the timeline's Chrome trace where the page links it", () => {
    const folder = freshFolder()
    const written = writeReport(folder, sampleReport)
    expect(written.traces).toEqual([join(folder, "traces/seed 1.json")])
    const trace = JSON.parse(readFileSync(written.traces[0], "utf8")) as { traceEvents: Array<{ ph: string }> }
    expect(trace.traceEvents.filter((event) => event.ph !== "M")).toHaveLength(sampleReport.backends[0].timeline!.events.length)
  })

  test("reports the images the folder lacks", () => {
    const folder = freshFolder()
    expect(writeReport(folder, sampleReport).missingImages).toEqual(["before.png", "after.png"])
    writeFileSync(join(folder, "before.png"), "")
    expect(writeReport(folder, sampleReport).missingImages).toEqual(["after.png"])
  })

  test("refuses a trace file outside the folder and writes nothing", () => {
    const folder = join(freshFolder(), "out")
    const [entry] = sampleReport.backends
    const hostile = { ...sampleReport, backends: [{ ...entry, timeline: { ...entry.timeline!, traceFile: "../escape.json" } }] }
    expect(() => writeReport(folder, hostile)).toThrow(ReportPathRefused)
    expect(existsSync(folder)).toBe(false)
  })
})

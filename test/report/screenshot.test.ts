/**
 * Goal: a report built from real runs renders in a real browser: the title and the visible text
 * state the verdict, property ids show as text, every image loads, the page does not overflow
 * sideways, and a full-page screenshot is written.
 * Method: run the conformance suites, a few mutants, a small sweep and one traced simulation on
 * the simulator (seeded, so the data is the same every run), write the report to a temporary
 * folder with two test-pattern PNGs, and open it in headless Debian Chromium via playwright-core.
 * With RANKWISE_UPDATE_SCREENSHOT=1 the screenshot is copied to docs/report-screenshot.png.
 *
 * Where Chromium is missing: under CI the test fails (CI must run scripts/install-chromium.sh);
 * elsewhere it is skipped, and its name says why. It runs the same on Node, Bun and Deno.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, test } from "vitest"
import { encodePng } from "../../backends/onnx/png.ts"
import { runConformance, runMutants } from "../../conformance/index.ts"
import { pageTitle } from "../../report/html.ts"
import { currentRuntime, type RankwiseReport, reportVerdict } from "../../report/model.ts"
import { chromiumPathDefault, screenshotPage } from "../../report/screenshot.ts"
import { writeReport } from "../../report/write.ts"
import { simHarnessFactory } from "../../simulator/harness.ts"
import { runSimulation } from "../../simulator/sim-run.ts"
import { runSweep } from "../../simulator/sweep.ts"

const browserTimeoutMs = 120_000
const screenshotDocPath = fileURLToPath(new URL("../../docs/report-screenshot.png", import.meta.url))

/** Builds the report from real, seeded runs; each stage's wall time goes into `timings`. */
const buildRealReport = async (): Promise<RankwiseReport> => {
  const timings: Record<string, number> = {}
  const timed = async <A>(stage: string, work: () => A | Promise<A>): Promise<A> => {
    const startedMs = Date.now()
    const value = await work()
    timings[stage] = Date.now() - startedMs
    return value
  }
  const conformance = await timed("conformance", () => runConformance({ backend: simHarnessFactory, numRuns: 5, seed: 1 }))
  const mutants = await timed("mutants", () => runMutants({
    backend: simHarnessFactory, numRuns: 10, seed: 1, mutants: ["rank-0-only-replies", "no-compensation", "or-instead-of-and", "timeouts-as-definite"]
  }))
  const sweep = await timed("sweep", () => runSweep({ baseSeed: 1, seeds: 5, ranks: 3, durationMs: 2_000, faults: { _tag: "swarm" } }))
  const run = await timed("timeline run", () => runSimulation({ seed: 1, ranks: 3, durationMs: 2_000, faults: { _tag: "swarm" }, keepTrace: true }))
  return {
    version: 1,
    createdAt: new Date().toISOString(),
    runtime: currentRuntime(),
    timings,
    backends: [{
      backend: "sim",
      conformance,
      mutants,
      sweep,
      timeline: { label: `simulated run, seed ${run.seed}, 3 ranks, swarm faults`, events: run.trace ?? [], worldSize: 3, traceFile: "trace-seed-1.json" },
      images: [{ caption: "test pattern A (gallery check)", file: "pattern-a.png" }, { caption: "test pattern B (gallery check)", file: "pattern-b.png" }]
    }]
  }
}

/** A small RGB test pattern, so the gallery shows real PNGs without a model. */
const testPattern = (variant: number): Uint8Array => {
  const size = 48
  const rgb = new Uint8Array(size * size * 3)
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const offset = (y * size + x) * 3
      const checker = ((x >> 3) + (y >> 3)) % 2 === 0
      rgb[offset] = variant === 0 ? x * 5 : checker ? 230 : 40
      rgb[offset + 1] = variant === 0 ? y * 5 : checker ? 120 : 90
      rgb[offset + 2] = variant === 0 ? 180 : checker ? 40 : 200
    }
  }
  return encodePng({ width: size, height: size, rgb })
}

/** Skipped only outside CI without a browser; playwright-core drives Chromium on Node, Bun and Deno alike. */
const skipReason = (): string | undefined =>
  !existsSync(chromiumPathDefault) && process.env.CI === undefined ? `no ${chromiumPathDefault}; run scripts/install-chromium.sh` : undefined

const name = "a report of real runs renders in headless Chromium with the verdict, property ids and images"

describe("screenshotPage", () => {
  const reason = skipReason()
  if (reason !== undefined) {
    test.skip(`${name} (skipped: ${reason})`, () => {})
    return
  }
  test(name, async () => {
    if (!existsSync(chromiumPathDefault)) {
      throw new Error(`CI must install Chromium for the report test: ${chromiumPathDefault} is missing; run scripts/install-chromium.sh first`)
    }
    const report = await buildRealReport()
    const folder = mkdtempSync(join(tmpdir(), "rankwise-report-browser-"))
    try {
      writeFileSync(join(folder, "pattern-a.png"), testPattern(0))
      writeFileSync(join(folder, "pattern-b.png"), testPattern(1))
      const written = writeReport(folder, report)
      expect(written.missingImages).toEqual([])
      const pngPath = join(folder, "report.png")
      const page = await screenshotPage(written.html, pngPath, { textSampleMax: 100_000 })
      const verdict = reportVerdict(report)
      expect(page.title).toBe(pageTitle(verdict))
      expect(page.textSample).toContain(verdict.ok ? "PASSED" : "FAILED")
      for (const id of ["AGG-1", ...report.backends[0].conformance.properties.map((property) => property.id)]) expect(page.textSample).toContain(id)
      expect(page.textSample).toContain("rank-0-only-replies")
      expect(page.brokenImages).toBe(0)
      expect(page.width).toBeLessThanOrEqual(1280)
      expect(statSync(pngPath).size).toBeGreaterThan(10_000)
      if (process.env.RANKWISE_UPDATE_SCREENSHOT === "1") {
        mkdirSync(dirname(screenshotDocPath), { recursive: true })
        copyFileSync(pngPath, screenshotDocPath)
      }
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  }, browserTimeoutMs)
})

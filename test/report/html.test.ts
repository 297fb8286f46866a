/**
 * Goal: the page is safe and complete. Text from reports (counterexamples, reasons, trace
 * arguments, captions) is shown as text, never as markup; every property and mutant of the report
 * appears; the header states the verdict; links and images stay inside the report folder.
 * Method: render the hand-built sample (which carries `<script>` in several fields) and read the
 * HTML as a string; the real-browser test (screenshot.test.ts) checks what a reader sees.
 */
import { describe, expect, test } from "vitest"
import { escapeHtml, folderUrl } from "../../report/escape.ts"
import { renderReportHtml } from "../../report/html.ts"
import { passingReport } from "./passing.ts"
import { injection, sampleConformance, sampleMutants, sampleReport } from "./sample.ts"

const html = renderReportHtml(sampleReport)

describe("renderReportHtml", () => {
  test("shows a counterexample holding <script> as text: the page has no script element at all", () => {
    expect(html).not.toMatch(/<script/i)
    expect(html).toContain(escapeHtml(injection))
    expect(html).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
    // The mutant's description holds <b>: it must not turn into bold text.
    expect(html).toContain("a partially applied &lt;b&gt;control&lt;/b&gt; operation")
  })

  test("has a row for every property id and every mutant id of the report", () => {
    for (const property of sampleConformance.properties) expect(html).toContain(`<tr data-property="${property.id}">`)
    for (const mutant of sampleMutants.mutants) expect(html).toContain(`<tr data-mutant="${mutant.id}">`)
  })

  test("states the verdict in the title and the header, and lists each problem", () => {
    expect(html).toContain("<title>Rankwise report: FAILED</title>")
    expect(html).toContain("<span class=\"pill failed\">FAILED</span>")
    expect(html).toContain("sim: 1 mutant(s) survived")
    const passing = renderReportHtml(passingReport)
    expect(passing).toContain("<title>Rankwise report: passed</title>")
    expect(passing).not.toContain("class=\"problems\"")
  })

  test("shows the failing property's replay line whole, and its reason", () => {
    expect(html).toContain("rankwise check --backend sim --property CONS-2 --seed 7 --path 0:1")
    expect(html).toContain("ranks 1 still hold adapter &quot;21&quot; &amp; more")
  })

  test("links the trace file and the images by percent-encoded names relative to the folder", () => {
    expect(html).toContain("<a href=\"traces/seed%201.json\" download>")
    expect(html).toContain("<img src=\"before.png\" alt=\"before LoRA\">")
    expect(html).toContain("<figcaption>after LoRA</figcaption>")
  })

  test("names an image path that would leave the folder instead of loading it", () => {
    const hostile = renderReportHtml({ ...sampleReport, backends: [{ ...sampleReport.backends[0], images: [{ caption: "x", file: "javascript:alert(1)" }] }] })
    expect(hostile).not.toContain("<img")
    expect(hostile).toContain("refused image path javascript:alert(1)")
  })

  test("is self-contained: no external stylesheet, script or font", () => {
    expect(html).not.toMatch(/<link\b/i)
    expect(html).not.toMatch(/src="(https?:)?\/\//i)
    expect(html).not.toMatch(/@import|url\(/i)
  })

  test("is the same bytes for the same report", () => {
    expect(renderReportHtml(sampleReport)).toBe(html)
  })
})

describe("folderUrl", () => {
  test("keeps names inside the folder and refuses schemes, absolute paths and parent segments", () => {
    expect(folderUrl("a b/c#1.png")).toBe("a%20b/c%231.png")
    for (const file of ["javascript:alert(1)", "https://example.com/x.png", "/etc/passwd", "../x.png", "a/../../x", "a\\b", "", "a//b"]) {
      expect(folderUrl(file)).toBeUndefined()
    }
  })
})

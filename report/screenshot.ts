/**
 * Opens a report page in a real headless Chromium and saves a full-page screenshot.
 *
 * Why a real browser: a test that only greps the HTML cannot tell that the page renders, that
 * the verdict is visible text, or that the SVG lays out. Why Debian's chromium: these machines
 * reach only the npm registry and apt, so playwright's own browser download fails; playwright-core
 * (a devDependency, which downloads nothing) drives `/usr/bin/chromium` through `executablePath`.
 * The flags keep it from reaching hosts it cannot reach (TOOLCHAIN.md); each run gets a fresh
 * profile folder, removed afterwards. Every wait is bounded by a timeout in milliseconds.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

export const chromiumPathDefault = "/usr/bin/chromium"

/** Flags for headless Chromium as root on a machine without internet (TOOLCHAIN.md). */
export const chromiumArgs: ReadonlyArray<string> = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"
]

export interface ScreenshotOptions {
  readonly executablePath?: string | undefined
  /** Bound on starting the browser (default 30,000). */
  readonly launchTimeoutMs?: number | undefined
  /** Bound on loading the page (default 15,000). */
  readonly loadTimeoutMs?: number | undefined
  /** Bound on taking the screenshot (default 15,000). */
  readonly screenshotTimeoutMs?: number | undefined
  /** Viewport width; the screenshot is the full page height (default 1280). */
  readonly viewportWidthPx?: number | undefined
  /** Characters of rendered text returned (default 2,000). */
  readonly textSampleMax?: number | undefined
}

export interface RenderedPage {
  readonly title: string
  /** The start of the page's rendered text (`innerText`: what a reader sees, not the markup). */
  readonly textSample: string
  /** Size of the whole rendered page in CSS pixels. */
  readonly width: number
  readonly height: number
  /** Images that did not load (a broken gallery link). */
  readonly brokenImages: number
}

/** The browser is not installed where we look; `scripts/install-chromium.sh` installs it. */
export class BrowserMissing extends Error {
  override readonly name = "BrowserMissing"
  constructor(readonly executablePath: string) {
    super(`no browser at ${executablePath}; run scripts/install-chromium.sh`)
  }
}

/** Runs in the page. A string, not a function: this project compiles without the DOM types. */
const measurePage = `({
  text: document.body.innerText,
  width: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
  brokenImages: [...document.images].filter((image) => !image.complete || image.naturalWidth === 0).length
})`

/** Renders `htmlPath` in headless Chromium, writes a full-page PNG to `pngPath`, describes the page. */
export const screenshotPage = async (htmlPath: string, pngPath: string, options: ScreenshotOptions = {}): Promise<RenderedPage> => {
  const executablePath = options.executablePath ?? chromiumPathDefault
  if (!existsSync(executablePath)) throw new BrowserMissing(executablePath)
  // Loaded on demand: playwright-core is a devDependency, so writing a report never needs it.
  const { chromium } = await import("playwright-core")
  const profile = mkdtempSync(join(tmpdir(), "rankwise-chromium-"))
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [...chromiumArgs],
      timeout: options.launchTimeoutMs ?? 30_000,
      viewport: { width: options.viewportWidthPx ?? 1280, height: 800 }
    })
    try {
      const page = context.pages()[0] ?? await context.newPage()
      await page.goto(pathToFileURL(resolve(htmlPath)).href, { waitUntil: "load", timeout: options.loadTimeoutMs ?? 15_000 })
      await page.screenshot({ path: pngPath, fullPage: true, timeout: options.screenshotTimeoutMs ?? 15_000 })
      const measured = await page.evaluate<{ text: string; width: number; height: number; brokenImages: number }>(measurePage)
      return {
        title: await page.title(),
        textSample: measured.text.slice(0, options.textSampleMax ?? 2_000),
        width: measured.width,
        height: measured.height,
        brokenImages: measured.brokenImages
      }
    } finally {
      await context.close()
    }
  } finally {
    rmSync(profile, { recursive: true, force: true })
  }
}

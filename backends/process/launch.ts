/**
 * How to start the rank program (rank-main) as a child process on each runtime.
 *
 * Bun and Deno run the `.ts` entry directly, and so does Node for the compiled `.js` entry of the
 * published package. Node running the TypeScript sources needs help, and the obvious help is
 * slow: with the tsx loader (`--import tsx`) every module the rank imports goes through loader
 * hooks that Node 20 runs on a separate thread, which makes a rank take about a second to start
 * on a two-core machine (most of it loading `effect` module by module). So under Node the
 * default (`auto`) bundles the rank program once per parent process with esbuild (installed with
 * tsx) into one plain `.mjs` file in the temp folder, which starts in about a tenth of the time;
 * when esbuild cannot be loaded it falls back to the tsx loader.
 */
import { createHash } from "node:crypto"
import { existsSync, renameSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

export type Runtime = "node" | "bun" | "deno"
/** `auto` picks the fastest that works: `direct` where the runtime can, else `bundle`, else `loader`. */
export type LaunchMode = "auto" | "direct" | "bundle" | "loader"

/** What to hand `child_process.fork`. */
export interface RankLaunch {
  readonly mode: Exclude<LaunchMode, "auto">
  readonly modulePath: string
  /** Undefined: the child inherits the parent's runtime flags (what Bun and Deno need). */
  readonly execArgv: ReadonlyArray<string> | undefined
}

export const currentRuntime = (): Runtime =>
  "bun" in process.versions ? "bun" : "deno" in process.versions ? "deno" : "node"

/** The rank program next to this file: `.ts` when running from source, `.js` when compiled. */
export const rankEntryPath = (): string =>
  fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./rank-main.ts" : "./rank-main.js", import.meta.url))

/** Decides how to start `entry` on this runtime; `bundle` builds (or reuses) the bundle. */
export const resolveLaunch = async (mode: LaunchMode, entry: string = rankEntryPath()): Promise<RankLaunch> => {
  const runtime = currentRuntime()
  const needsHelp = runtime === "node" && entry.endsWith(".ts")
  if (mode === "direct" || (mode === "auto" && !needsHelp)) {
    return { mode: "direct", modulePath: entry, execArgv: runtime === "node" ? [] : undefined }
  }
  if (mode === "loader") return { mode: "loader", modulePath: entry, execArgv: ["--import", tsxLoaderUrl()] }
  const bundled = await bundleOnce(entry)
  if (bundled !== undefined) return { mode: "bundle", modulePath: bundled, execArgv: [] }
  if (mode === "bundle") throw new Error("launch mode 'bundle' needs esbuild, which could not be loaded")
  return { mode: "loader", modulePath: entry, execArgv: ["--import", tsxLoaderUrl()] }
}

const tsxLoaderUrl = (): string => pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href

// ---------------------------------------------------------------------------------------------
// The bundle: built once per parent process per entry, shared through the temp folder.
// ---------------------------------------------------------------------------------------------

/** The part of esbuild's API used here; esbuild arrives with tsx, so it is loaded by name. */
interface Esbuild {
  readonly build: (options: Record<string, unknown>) => Promise<{ readonly outputFiles: ReadonlyArray<{ readonly text: string }> }>
}

const bundles = new Map<string, Promise<string | undefined>>()

const bundleOnce = (entry: string): Promise<string | undefined> => {
  let bundled = bundles.get(entry)
  if (bundled === undefined) {
    bundled = bundle(entry)
    bundles.set(entry, bundled)
  }
  return bundled
}

const loadEsbuild = async (): Promise<Esbuild | undefined> => {
  const name = "esbuild"
  try {
    return (await import(name)) as Esbuild
  } catch {
    return undefined
  }
}

/**
 * Bundles `entry` with everything it imports into one ES module. The file is named by the hash
 * of its content, so concurrent parents (vitest workers) and later runs share it, and a changed
 * source gets a new file. It is written to a private name first and renamed, so no parent ever
 * forks a half-written file.
 */
const bundle = async (entry: string): Promise<string | undefined> => {
  const esbuild = await loadEsbuild()
  if (esbuild === undefined) return undefined
  const result = await esbuild.build({
    entryPoints: [entry], bundle: true, platform: "node", format: "esm", target: "node20", write: false, logLevel: "silent"
  })
  const text = result.outputFiles[0].text
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 16)
  const path = join(tmpdir(), `rankwise-rank-${hash}.mjs`)
  if (!existsSync(path)) {
    const partial = `${path}.${process.pid}.partial`
    writeFileSync(partial, text)
    renameSync(partial, path)
  }
  return path
}

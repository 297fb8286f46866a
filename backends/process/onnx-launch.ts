/**
 * How to start `onnx` rank processes: like any rank (launch.ts), except where the rank program
 * is bundled.
 *
 * Under Node from the TypeScript sources, ranks run from an esbuild bundle (launch.ts explains
 * why). The ONNX worker loads onnxruntime-node with `require` on first use (it is native and
 * cannot be bundled; backends/onnx/sessions.ts), and `require` resolves from the file that calls
 * it: from a bundle in the temp folder it would find no `node_modules`. So the bundle of an
 * `onnx` rank lives in `node_modules/.cache/rankwise/`, next to the package it must load, and is
 * started directly. Bun, Deno and the compiled package run the rank program as it is; when
 * esbuild cannot be loaded or the cache folder cannot be written, the tsx loader does it (slower
 * to start, same behaviour).
 */
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, sep } from "node:path"
import { currentRuntime, type LaunchMode, rankEntryPath } from "./launch.ts"

/** What `startProcessCluster` takes for an `onnx` cluster: a launch mode and the rank program. */
export interface OnnxLaunch {
  readonly launch: LaunchMode
  /** The rank program to fork; undefined means the default (rank-main). */
  readonly entry: string | undefined
}

interface Esbuild {
  readonly build: (options: Record<string, unknown>) => Promise<{ readonly outputFiles: ReadonlyArray<{ readonly text: string }> }>
}

let resolved: Promise<OnnxLaunch> | undefined

/** The launch for `onnx` ranks on this runtime; the bundle is built once per process. */
export const resolveOnnxLaunch = (): Promise<OnnxLaunch> => (resolved ??= resolveOnce())

const resolveOnce = async (): Promise<OnnxLaunch> => {
  const entry = rankEntryPath()
  if (currentRuntime() !== "node" || !entry.endsWith(".ts")) return { launch: "auto", entry: undefined }
  const bundled = await bundleNextToRuntime(entry).catch(() => undefined)
  return bundled === undefined ? { launch: "loader", entry: undefined } : { launch: "direct", entry: bundled }
}

/** The `node_modules` folder onnxruntime-node is installed in, or undefined when it is not installed. */
const nodeModulesOfRuntime = (): string | undefined => {
  try {
    const packageJson = createRequire(import.meta.url).resolve("onnxruntime-node/package.json")
    const marker = `${sep}node_modules${sep}`
    const at = packageJson.lastIndexOf(marker)
    return at < 0 ? dirname(dirname(packageJson)) : packageJson.slice(0, at + marker.length - 1)
  } catch {
    return undefined
  }
}

/**
 * Bundles the rank program into `node_modules/.cache/rankwise/rank-<hash>.mjs`; named by the
 * content's hash so concurrent parents share it, written under a private name and renamed so no
 * parent forks a half-written file. Undefined when esbuild or onnxruntime-node is missing.
 */
const bundleNextToRuntime = async (entry: string): Promise<string | undefined> => {
  const nodeModules = nodeModulesOfRuntime()
  if (nodeModules === undefined) return undefined
  const name = "esbuild"
  const esbuild = (await import(name).catch(() => undefined)) as Esbuild | undefined
  if (esbuild === undefined) return undefined
  const result = await esbuild.build({
    entryPoints: [entry], bundle: true, platform: "node", format: "esm", target: "node20", write: false, logLevel: "silent"
  })
  const text = result.outputFiles[0].text
  const folder = join(nodeModules, ".cache", "rankwise")
  const path = join(folder, `rank-${createHash("sha256").update(text).digest("hex").slice(0, 16)}.mjs`)
  if (!existsSync(path)) {
    mkdirSync(folder, { recursive: true })
    const partial = `${path}.${process.pid}.partial`
    writeFileSync(partial, text)
    renameSync(partial, path)
  }
  return path
}

/**
 * The files an `onnx` cluster needs before its ranks start: a model directory and an adapter
 * directory, built once and kept in a cache folder.
 *
 * A rank reads its model from files (that is the real path: sizes and SHA-256 checked, weights
 * read out of the `.onnx` graphs), so a harness that starts many clusters must not rebuild them
 * each time. The cache is content-addressed: the model is built in memory (tens of milliseconds),
 * and its manifest's hash, which covers every file's SHA-256, names the folder. The same seed and
 * the same graph builder therefore always find the same folder, and a change to either finds a
 * new one. A folder is written under a private name and renamed into place, so concurrent
 * processes (vitest workers) never see half a model; the loser of a race drops its copy.
 *
 * The adapter directory holds `adapter-1.rwlora` to `adapter-<count>.rwlora`: the conformance
 * suites add adapters as `{ id, name: "adapter-<id>" }` with ids up to 64, and a rank resolves a
 * name to `<adapterDir>/<name>.rwlora`. Each is a valid adapter of this model, seeded by its id.
 */
import { createHash, randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdir, rename, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { encodeLora } from "../onnx/lora-file.ts"
import { createLora } from "../onnx/lora.ts"
import { buildModel, makeManifest, saveModel } from "../onnx/model.ts"
import type { ModelOptions } from "../onnx/weights.ts"

/** Where the cached models live unless a caller says otherwise. */
export const defaultModelCacheRoot = (): string => join(tmpdir(), "rankwise-models")

/** Adapters `adapter-1` .. `adapter-64`: every id the conformance suites add. */
export const cachedAdapterCount = 64
export const cachedAdapterRank = 2

export interface OnnxAssets {
  readonly modelDir: string
  readonly adapterDir: string
}

/** Written last into a cache folder: a folder without it is not complete. */
const readyMarker = "rankwise-ready"

const inFlight = new Map<string, Promise<OnnxAssets>>()

/**
 * The model of `model` (default seed 1) and its adapters, built into `root` if missing. Use to
 * prepare an `onnx` cluster; the promise is shared by concurrent callers in one process.
 */
export const prepareOnnxAssets = (options: { readonly model?: ModelOptions | undefined; readonly root?: string | undefined } = {}): Promise<OnnxAssets> => {
  const built = buildModel(options.model ?? { seed: 1 })
  const manifest = makeManifest(built)
  const hash = createHash("sha256").update(JSON.stringify(manifest)).digest("hex").slice(0, 16)
  const folder = join(options.root ?? defaultModelCacheRoot(), `model-${built.config.seed}-${hash}`)
  let prepared = inFlight.get(folder)
  if (prepared === undefined) {
    prepared = ensureFolder(folder, async (partial) => {
      await saveModel(join(partial, "model"), built)
      await mkdir(join(partial, "adapters"))
      for (let id = 1; id <= cachedAdapterCount; id++) {
        const lora = createLora({ seed: id, rank: cachedAdapterRank, targets: manifest.loraTargets, scale: 1 })
        await writeFile(join(partial, "adapters", `adapter-${id}.rwlora`), encodeLora(lora))
      }
    }).then(() => ({ modelDir: join(folder, "model"), adapterDir: join(folder, "adapters") }))
    // A failed preparation is not cached: the next caller tries again.
    prepared.catch(() => inFlight.delete(folder))
    inFlight.set(folder, prepared)
  }
  return prepared
}

/** Makes `folder` complete: fills a private copy with `fill` and renames it into place. */
const ensureFolder = async (folder: string, fill: (partial: string) => Promise<void>): Promise<void> => {
  if (existsSync(join(folder, readyMarker))) return
  const partial = `${folder}.partial-${process.pid}-${randomBytes(4).toString("hex")}`
  await mkdir(partial, { recursive: true })
  try {
    await fill(partial)
    await writeFile(join(partial, readyMarker), "")
    // An incomplete folder left by a crashed writer is replaced; a complete one wins the race.
    if (existsSync(folder) && !existsSync(join(folder, readyMarker))) await rm(folder, { recursive: true, force: true })
    await rename(partial, folder).catch((error: NodeJS.ErrnoException) => {
      if (!existsSync(join(folder, readyMarker))) throw error
    })
  } finally {
    await rm(partial, { recursive: true, force: true })
  }
}

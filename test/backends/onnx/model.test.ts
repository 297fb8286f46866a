/**
 * Goal: saveModel writes the three graphs and a manifest that loadModel reads back to the same
 * model (the weights come out of the .onnx files, not the seed), and every broken directory is
 * a ModelLoadError naming the file and the problem.
 * Method: a model saved into a temporary directory, then copies of it broken one way each.
 */
import { cp, readFile, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildModel, loadModel, type ModelManifest, saveModel } from "../../../backends/onnx/model.ts"
import { makeTempDir, sameBits, smallModel } from "./fixtures.ts"

let root: Awaited<ReturnType<typeof makeTempDir>>
let manifest: ModelManifest
const model = buildModel(smallModel)
beforeAll(async () => {
  root = await makeTempDir("model")
  manifest = await saveModel(join(root.dir, "good"), model)
})
afterAll(async () => { await root.remove() })

/** A copy of the good model directory, broken by `breakIt`. */
const broken = async (name: string, breakIt: (dir: string) => Promise<void>) => {
  const dir = join(root.dir, name)
  await cp(join(root.dir, "good"), dir, { recursive: true })
  await breakIt(dir)
  return dir
}

const loadFailure = async (dir: string) => {
  const exit = await Effect.runPromiseExit(loadModel(dir))
  if (Exit.isSuccess(exit)) return "loaded"
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? `${reason.error._tag}: ${reason.error.reason}` : "defect"
}

describe("saveModel and loadModel", () => {
  it("write a manifest with the seed, files, graph shapes, weights and LoRA targets", async () => {
    const written = JSON.parse(await readFile(join(root.dir, "good", "model.json"), "utf8"))
    expect(written).toEqual(manifest)
    expect(manifest.config.seed).toBe(smallModel.seed)
    expect(manifest.files.denoiser).toMatchObject({ file: "denoiser.onnx", bytes: model.graphs.denoiser.length })
    expect(manifest.graphs.denoiser.inputs.latents).toEqual(["batch", 4, "latent_height", "latent_width"])
    expect(manifest.weights.find((weight) => weight.name === "text.embedding")).toEqual({
      name: "text.embedding", graph: "textEncoder", dims: [64, 16], bytes: 64 * 16 * 4
    })
    expect(manifest.weightsBytes).toBe(manifest.weights.reduce((total, weight) => total + weight.bytes, 0))
    expect(manifest.loraTargets.map((target) => target.name)).toContain("denoiser.conv_mid.weight")
  })

  it("load back the same graphs and weights", async () => {
    const loaded = await Effect.runPromise(loadModel(join(root.dir, "good")))
    expect(loaded.config).toEqual(model.config)
    for (const graph of ["textEncoder", "denoiser", "decoder"] as const) expect(sameBits(loaded.graphs[graph], model.graphs[graph])).toBe(true)
    for (const [name, tensor] of model.weights) expect(sameBits(loaded.weights.get(name)!.data, tensor.data)).toBe(true)
  })

  it("refuse a missing directory or file with ModelLoadError", async () => {
    expect(await loadFailure(join(root.dir, "nowhere"))).toMatch(/^ModelLoadError: cannot read .*model.json: ENOENT/)
    const dir = await broken("no-decoder", (dir) => rm(join(dir, "decoder.onnx")))
    expect(await loadFailure(dir)).toMatch(/cannot read .*decoder.onnx: ENOENT/)
  })

  it("refuse a corrupted or truncated graph file", async () => {
    const flipped = await broken("flipped", async (dir) => {
      const bytes = await readFile(join(dir, "denoiser.onnx"))
      bytes[bytes.length - 10] ^= 0xff
      await writeFile(join(dir, "denoiser.onnx"), bytes)
    })
    expect(await loadFailure(flipped)).toMatch(/denoiser.onnx does not match its SHA-256/)
    const truncated = await broken("truncated", async (dir) => {
      const bytes = await readFile(join(dir, "text-encoder.onnx"))
      await writeFile(join(dir, "text-encoder.onnx"), bytes.subarray(0, 1000))
    })
    expect(await loadFailure(truncated)).toMatch(/text-encoder.onnx holds 1000 bytes/)
  })

  it("refuse a manifest that is not JSON or not a model manifest", async () => {
    expect(await loadFailure(await broken("not-json", (dir) => writeFile(join(dir, "model.json"), "{")))).toMatch(/is not JSON/)
    const other = await broken("other", (dir) => writeFile(join(dir, "model.json"), JSON.stringify({ ...manifest, format: "other" })))
    expect(await loadFailure(other)).toMatch(/is not a rankwise model manifest/)
  })
})

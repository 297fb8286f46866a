/**
 * The model as a whole: its three graphs, built from a seed, saved to files and loaded back.
 *
 * A model directory holds `text-encoder.onnx`, `denoiser.onnx`, `decoder.onnx` and `model.json`,
 * the manifest:
 *
 *   { format: "rankwise-onnx-model", version: 1, config: ModelConfig,
 *     files: { textEncoder | denoiser | decoder: { file, bytes, sha256 } },
 *     graphs: { <graph>: { inputs: { <name>: dims }, outputs: { <name>: dims } } },
 *     weights: [{ name, graph, dims, bytes }], weightsBytes, loraTargets: [{ name, rows, columns }] }
 *
 * Loading is the real path a worker takes: it reads the manifest, checks each file's size and
 * SHA-256, and reads the weights out of the `.onnx` files themselves (graph.ts), so a corrupted
 * or truncated file is a `ModelLoadError` before any session exists. The seed in the manifest
 * records where the weights came from; loading never regenerates them.
 */
import { createHash } from "node:crypto"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Result, Schema } from "effect"
import { ModelLoadError } from "../../core/errors.ts"
import { buildDecoder, decoderInput, decoderOutput } from "./decoder.ts"
import { buildDenoiser, denoiserInputs, denoiserOutput } from "./denoiser.ts"
import { type FloatTensor, readFloatInitializers } from "./graph.ts"
import { buildTextEncoder, textEncoderInput, textEncoderOutput } from "./text-encoder.ts"
import {
  type GraphName, loraTargets, makeWeights, type ModelConfig, type ModelOptions, resolveModelConfig, weightBytes,
  weightLayout, type WeightSet
} from "./weights.ts"

export const graphNames: ReadonlyArray<GraphName> = ["textEncoder", "denoiser", "decoder"]
export const graphFiles: { readonly [G in GraphName]: string } = {
  textEncoder: "text-encoder.onnx",
  denoiser: "denoiser.onnx",
  decoder: "decoder.onnx"
}
export const manifestFile = "model.json"

export type ModelGraphs = { readonly [G in GraphName]: Uint8Array }

/** A model in memory: what `buildModel` makes and `loadModel` reads back. */
export interface Model {
  readonly config: ModelConfig
  readonly weights: WeightSet
  readonly graphs: ModelGraphs
}

/** Builds the three graphs of `weights` (base or patched). */
export const buildGraphs = (config: ModelConfig, weights: WeightSet): ModelGraphs => ({
  textEncoder: buildTextEncoder(config, weights),
  denoiser: buildDenoiser(config, weights),
  decoder: buildDecoder(config, weights)
})

/** A model from a seed and optional hyperparameters (weights.ts has the defaults). */
export const buildModel = (options: ModelOptions): Model => {
  const config = resolveModelConfig(options)
  const weights = makeWeights(config)
  return { config, weights, graphs: buildGraphs(config, weights) }
}

const Dims = Schema.Array(Schema.Union([Schema.Int, Schema.String]))
const FileEntry = Schema.Struct({ file: Schema.String, bytes: Schema.Int, sha256: Schema.String })
const GraphShapes = Schema.Struct({ inputs: Schema.Record(Schema.String, Dims), outputs: Schema.Record(Schema.String, Dims) })

/** The manifest's schema: `loadModel` refuses a manifest that does not decode. */
export const ModelManifest = Schema.Struct({
  format: Schema.Literal("rankwise-onnx-model"),
  version: Schema.Literal(1),
  config: Schema.Struct({
    seed: Schema.Int, latentChannels: Schema.Int, textDim: Schema.Int, vocabSize: Schema.Int, tokenCount: Schema.Int,
    timeDim: Schema.Int, hiddenChannels: Schema.Int, decoderChannels: Schema.Int, scaleFactor: Schema.Int
  }),
  files: Schema.Struct({ textEncoder: FileEntry, denoiser: FileEntry, decoder: FileEntry }),
  graphs: Schema.Struct({ textEncoder: GraphShapes, denoiser: GraphShapes, decoder: GraphShapes }),
  weights: Schema.Array(Schema.Struct({ name: Schema.String, graph: Schema.Literals(graphNames), dims: Schema.Array(Schema.Int), bytes: Schema.Int })),
  weightsBytes: Schema.Int,
  loraTargets: Schema.Array(Schema.Struct({ name: Schema.String, rows: Schema.Int, columns: Schema.Int }))
})
export type ModelManifest = typeof ModelManifest.Type

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** Graph inputs and outputs with their dims, so a reader of model.json sees the interface. */
const graphShapes = (config: ModelConfig): ModelManifest["graphs"] => {
  const latents = ["batch", config.latentChannels, "latent_height", "latent_width"]
  return {
    textEncoder: { inputs: { [textEncoderInput]: ["batch", config.tokenCount] }, outputs: { [textEncoderOutput]: ["batch", config.textDim] } },
    denoiser: {
      inputs: { [denoiserInputs.latents]: latents, [denoiserInputs.timestep]: ["batch", 1], [denoiserInputs.text]: ["batch", config.textDim] },
      outputs: { [denoiserOutput]: latents }
    },
    decoder: { inputs: { [decoderInput]: latents }, outputs: { [decoderOutput]: ["batch", 3, "height", "width"] } }
  }
}

export const makeManifest = (model: Model): ModelManifest => {
  const entry = (graph: GraphName) => ({ file: graphFiles[graph], bytes: model.graphs[graph].length, sha256: sha256(model.graphs[graph]) })
  return {
    format: "rankwise-onnx-model",
    version: 1,
    config: model.config,
    files: { textEncoder: entry("textEncoder"), denoiser: entry("denoiser"), decoder: entry("decoder") },
    graphs: graphShapes(model.config),
    weights: weightLayout(model.config).map(({ name, graph, dims }) => ({ name, graph, dims, bytes: dims.reduce((a, b) => a * b, 4) })),
    weightsBytes: weightBytes(model.weights),
    loraTargets: loraTargets(model.config)
  }
}

/** Writes the model's files into `dir` (created if missing). Use to prepare a model for workers. */
export const saveModel = async (dir: string, model: Model | ModelOptions): Promise<ModelManifest> => {
  const built = "graphs" in model ? model : buildModel(model)
  const manifest = makeManifest(built)
  await mkdir(dir, { recursive: true })
  for (const graph of graphNames) await writeFile(join(dir, graphFiles[graph]), built.graphs[graph])
  await writeFile(join(dir, manifestFile), JSON.stringify(manifest, null, 2) + "\n")
  return manifest
}

/** A loaded model with its manifest. */
export interface LoadedModel extends Model {
  readonly manifest: ModelManifest
}

const loadError = (reason: string) => new ModelLoadError({ reason })

const readBytes = (path: string) =>
  Effect.tryPromise({
    try: () => readFile(path),
    catch: (error) => loadError(`cannot read ${path}: ${(error as { code?: string }).code ?? String(error)}`)
  }).pipe(Effect.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)))

const decodeManifest = (bytes: Uint8Array, path: string): Effect.Effect<ModelManifest, ModelLoadError> => {
  const parsed = Result.try(() => JSON.parse(new TextDecoder().decode(bytes)) as unknown)
  if (Result.isFailure(parsed)) return Effect.fail(loadError(`${path} is not JSON`))
  const decoded = Schema.decodeUnknownResult(ModelManifest)(parsed.success)
  return Result.isFailure(decoded)
    ? Effect.fail(loadError(`${path} is not a rankwise model manifest: ${String(decoded.failure)}`))
    : Effect.succeed(decoded.success)
}

/** One graph file, checked against its manifest entry. */
const readGraph = (dir: string, manifest: ModelManifest, graph: GraphName) => Effect.gen(function* () {
  const entry = manifest.files[graph]
  const bytes = yield* readBytes(join(dir, entry.file))
  if (bytes.length !== entry.bytes) return yield* loadError(`${entry.file} holds ${bytes.length} bytes, the manifest says ${entry.bytes}`)
  if (sha256(bytes) !== entry.sha256) return yield* loadError(`${entry.file} does not match its SHA-256 in the manifest`)
  return bytes
})

/** The weights read from the graph files, each checked against the manifest's dims. */
const readWeights = (manifest: ModelManifest, graphs: ModelGraphs): Effect.Effect<WeightSet, ModelLoadError> => {
  const weights = new Map<string, FloatTensor>()
  for (const graph of graphNames) {
    const read = Result.try({ try: () => readFloatInitializers(graphs[graph]), catch: (error) => loadError(`${graphFiles[graph]}: ${String(error)}`) })
    if (Result.isFailure(read)) return Effect.fail(read.failure)
    for (const [name, tensor] of read.success) weights.set(name, tensor)
  }
  for (const expected of manifest.weights) {
    const tensor = weights.get(expected.name)
    if (tensor === undefined) return Effect.fail(loadError(`weight ${expected.name} is missing from ${graphFiles[expected.graph]}`))
    if (tensor.dims.join("x") !== expected.dims.join("x")) {
      return Effect.fail(loadError(`weight ${expected.name} is ${tensor.dims.join("x")}, the manifest says ${expected.dims.join("x")}`))
    }
  }
  return Effect.succeed(weights)
}

/** Reads a model directory written by `saveModel`. Fails with `ModelLoadError` naming the file and the problem. */
export const loadModel = (dir: string): Effect.Effect<LoadedModel, ModelLoadError> => Effect.gen(function* () {
  const manifestPath = join(dir, manifestFile)
  const manifest = yield* decodeManifest(yield* readBytes(manifestPath), manifestPath)
  const graphs: ModelGraphs = {
    textEncoder: yield* readGraph(dir, manifest, "textEncoder"),
    denoiser: yield* readGraph(dir, manifest, "denoiser"),
    decoder: yield* readGraph(dir, manifest, "decoder")
  }
  const weights = yield* readWeights(manifest, graphs)
  return { config: resolveModelConfig(manifest.config), weights, graphs, manifest }
})

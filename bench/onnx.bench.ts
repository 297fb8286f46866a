/**
 * The ONNX backend end to end, against baselines measured in the same run (printed, never
 * asserted: the machine is noisy). Run: `npx tsx bench/onnx.bench.ts [--json FILE] [--providers cpu]`
 * (also `bun` / `deno run -A` on this file).
 *
 * - Overhead: one 20-step request submitted to the engine over one `onnx` rank process, against
 *   the same sessions and the same sampling loop run directly in this process (plan the batch,
 *   `runSampling`, turn the pixels into RGB bytes). Both alternate in blocks, so drift in the
 *   machine's load hits both alike. The ratio of the medians is what the engine, the executor,
 *   IPC and the rank host add (aim at 64x64: below 1.10). That cost is mostly fixed per request
 *   (the `1-step 8x8` row shows it), so 256x256 shows how it amortizes.
 * - Time to first image: start the rank processes, load the model on them, run the first
 *   request, against loading the model and opening sessions in this process plus one request.
 * - CFG-parallel: a guided request (negative prompt, guidance 5) on two ranks that split the
 *   branches over their socket, against one rank that stacks both branches in one run; at
 *   64x64 (the exchange's latency shows), 256x256 and 512x512 (compute dominates). Below 1 is
 *   faster. Two ranks only win where two cores really run in parallel: on a machine whose two
 *   vCPUs share one physical core the split mostly trades the stacked run for two contending ones.
 */
import { writeFileSync } from "node:fs"
import { Effect, Exit, Result } from "effect"
import { planBatch } from "../backends/onnx/batch-plan.ts"
import { toRgbBytes } from "../backends/onnx/decoder.ts"
import { loadModel } from "../backends/onnx/model.ts"
import { runSampling } from "../backends/onnx/sampler.ts"
import { makeSessionPipeline, openSessions, releaseSessions } from "../backends/onnx/sessions.ts"
import { currentRuntime } from "../backends/process/launch.ts"
import { prepareOnnxAssets } from "../backends/process/onnx-assets.ts"
import { type OnnxClusterHarness, startOnnxHarness } from "../backends/process/onnx-harness.ts"
import type { BatchRequest } from "../core/worker.ts"

const argument = (name: string): string | undefined => {
  const index = process.argv.indexOf(name)
  return index > 0 ? process.argv[index + 1] : undefined
}
const providers = (argument("--providers") ?? "cpu").split(",")
/** How many requests each comparison runs: warm-up, then blocks of each side in turn. */
interface Rounds { readonly warmup: number; readonly blocks: number; readonly perBlock: number }
const roundsBySize: Readonly<Record<number, Rounds>> = {
  8: { warmup: 10, blocks: 5, perBlock: 10 },
  64: { warmup: 10, blocks: 5, perBlock: 10 },
  256: { warmup: 4, blocks: 4, perBlock: 5 },
  512: { warmup: 2, blocks: 3, perBlock: 3 }
}
const coldStarts = 3

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

let requestCount = 0
const request = (size: number, guided: boolean, steps = 20) => ({
  requestId: `bench-${++requestCount}`, prompt: "a lighthouse at dusk", height: size, width: size, steps, seed: 11,
  ...(guided ? { negativePrompt: "blurry", guidanceScale: 5 } : {})
})

/** One request through the engine; its wall time in ms. */
const throughEngine = async (harness: OnnxClusterHarness, input: Record<string, unknown>): Promise<number> => {
  const started = performance.now()
  const done = await harness.run(harness.engine.submit(input), 60_000)
  if (done._tag !== "Done" || Exit.isFailure(done.exit)) throw new Error(`the request failed: ${JSON.stringify(done)}`)
  return performance.now() - started
}

/** The same model work in this process: sessions, the sampling loop, RGB bytes. */
const makeDirect = async (modelDir: string) => {
  const model = await Effect.runPromise(loadModel(modelDir))
  const sessions = await Effect.runPromise(openSessions(model.graphs, providers))
  const pipeline = makeSessionPipeline(sessions, model.config.tokenCount)
  const once = async (input: ReturnType<typeof request>): Promise<number> => {
    const started = performance.now()
    const batchRequest: BatchRequest = { frames: 1, fps: 0, outputsPerPrompt: 1, outputType: "image", guidanceScale: 1, ...input }
    const plan = planBatch({ batchId: 1, requests: [batchRequest] }, model.config)
    if (Result.isFailure(plan)) throw plan.failure
    const result = await runSampling(pipeline, model.config, plan.success.job)
    toRgbBytes(result.images, 0, input.height, input.width)
    return performance.now() - started
  }
  return { once, release: () => Effect.runPromise(releaseSessions(sessions)) }
}

/** Alternates `a` and `b` in blocks after a warm-up; medians of each. */
const alternate = async (rounds: Rounds, a: () => Promise<number>, b: () => Promise<number>) => {
  for (let index = 0; index < rounds.warmup; index++) await a(), await b()
  const times = { a: [] as Array<number>, b: [] as Array<number> }
  for (let block = 0; block < rounds.blocks; block++) {
    for (let index = 0; index < rounds.perBlock; index++) times.a.push(await a())
    for (let index = 0; index < rounds.perBlock; index++) times.b.push(await b())
  }
  return { a: median(times.a), b: median(times.b) }
}

const overhead = async (modelDir: string) => {
  const direct = await makeDirect(modelDir)
  const harness = await startOnnxHarness({ ranks: 1, seed: 1 }, { providers })
  try {
    const rows = []
    for (const [size, steps] of [[8, 1], [64, 20], [256, 20]] as const) {
      const { a: engineMs, b: directMs } = await alternate(roundsBySize[size],
        () => throughEngine(harness, request(size, false, steps)), () => direct.once(request(size, false, steps)))
      rows.push({ size, steps, engineMs, directMs })
    }
    return { rows, launch: harness.cluster.launch.mode }
  } finally {
    await harness.dispose()
    await direct.release()
  }
}

const firstImage = async (modelDir: string) => {
  const ranks: Array<number> = []
  const inProcess: Array<number> = []
  for (let attempt = 0; attempt < coldStarts; attempt++) {
    const started = performance.now()
    const harness = await startOnnxHarness({ ranks: 1, seed: 1 }, { providers })
    await throughEngine(harness, request(64, false))
    ranks.push(performance.now() - started)
    await harness.dispose()
    const directStarted = performance.now()
    const direct = await makeDirect(modelDir)
    await direct.once(request(64, false))
    inProcess.push(performance.now() - directStarted)
    await direct.release()
  }
  return { ranksMs: median(ranks), directMs: median(inProcess) }
}

const cfgParallel = async (size: number) => {
  const [one, two] = await Promise.all([startOnnxHarness({ ranks: 1, seed: 1 }, { providers }), startOnnxHarness({ ranks: 2, seed: 1 }, { providers })])
  try {
    const { a: twoMs, b: oneMs } = await alternate(roundsBySize[size], () => throughEngine(two, request(size, true)), () => throughEngine(one, request(size, true)))
    return { size, twoMs, oneMs }
  } finally {
    await one.dispose()
    await two.dispose()
  }
}

const main = async () => {
  const assets = await prepareOnnxAssets()
  const cost = await overhead(assets.modelDir)
  const cold = await firstImage(assets.modelDir)
  const splits = [await cfgParallel(64), await cfgParallel(256), await cfgParallel(512)]
  const ms = (value: number) => `${value.toFixed(2)} ms`.padStart(11)
  const rows = [
    ...cost.rows.map((row) => ({ name: `engine + 1 rank process vs in-process, ${row.size}x${row.size}, ${row.steps} step${row.steps > 1 ? "s" : ""}`, ours: row.engineMs, baseline: row.directMs })),
    { name: "time to first image: ranks cold vs in-process cold", ours: cold.ranksMs, baseline: cold.directMs },
    ...splits.map((split) => ({ name: `CFG-parallel 2 ranks vs 1 rank, guided ${split.size}x${split.size}, 20 steps`, ours: split.twoMs, baseline: split.oneMs }))
  ]
  console.log(`runtime ${currentRuntime()}, providers ${providers.join(",")}, launch ${cost.launch}; medians per side (cold starts: ${coldStarts})`)
  console.log(`${"measure".padEnd(62)} ${"ours".padStart(11)} ${"baseline".padStart(11)}   ratio`)
  for (const row of rows) console.log(`${row.name.padEnd(62)} ${ms(row.ours)} ${ms(row.baseline)}   ${(row.ours / row.baseline).toFixed(2)}x`)
  const jsonPath = argument("--json")
  if (jsonPath !== undefined) {
    writeFileSync(jsonPath, JSON.stringify({
      bench: "onnx",
      rows: rows.flatMap((row) => [
        { name: `${row.name}: ours`, value: row.ours, unit: "ms" },
        { name: `${row.name}: baseline`, value: row.baseline, unit: "ms" },
        { name: `${row.name}: ratio`, value: row.ours / row.baseline, unit: "x" }
      ])
    }, null, 2))
  }
}

await main()

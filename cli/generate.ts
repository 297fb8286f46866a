/**
 * `rankwise generate`: one image from the ONNX model, through the engine and real rank processes.
 *
 * It checks its inputs first (size a multiple of the model's scale factor, steps at least 1, an
 * adapter file that exists and fits the model), then starts `--ranks` ONNX rank processes (with
 * two ranks a guided request splits its guidance branches across them), adds the adapter if one
 * is given, submits the request, writes the output rank's image as a PNG, and prints the
 * per-step timings, the execution provider it got (and why earlier ones were passed over), and
 * the time of each phase. Without `--model` it uses the default model, built once into a cache.
 * Exit codes: 0 image written, 1 generation failed, 2 bad usage or input.
 */
import { writeFile } from "node:fs/promises"
import { GenerateInputError, type Generated, generateOnce, type GenerateRequest, type GenerateSetup } from "../backends/process/onnx-generate.ts"
import { type FlagSpec, parseFlags, type ParsedFlags, parseInteger, renderFlags } from "./args.ts"
import type { Command, Io } from "./main.ts"

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

const flags: ReadonlyArray<FlagSpec> = [
  { name: "prompt", value: true, help: "what to draw (required)" },
  { name: "negative", value: true, help: "negative prompt; with --guidance above 1 it turns guidance on" },
  { name: "steps", value: true, help: "denoising steps", defaultText: "20" },
  { name: "size", value: true, help: "height and width in pixels, a multiple of 8", defaultText: "64" },
  { name: "guidance", value: true, help: "classifier-free guidance scale", defaultText: "1" },
  { name: "seed", value: true, help: "noise seed (drawn by the engine when absent)" },
  { name: "ranks", value: true, help: "rank processes, 1 or 2 (2 splits guidance across ranks)", defaultText: "1" },
  { name: "lora", value: true, help: "a .rwlora adapter file to apply" },
  { name: "lora-scale", value: true, help: "scale of the adapter", defaultText: "1" },
  { name: "model", value: true, help: "model directory (rankwise model build); the cached default model when absent" },
  { name: "providers", value: true, help: "execution providers to try, in order", defaultText: "cuda,cpu" },
  { name: "out", value: true, help: "the PNG file to write (required)" },
  { name: "json", value: false, help: "print one JSON document" }
]

interface GenerateOptions {
  readonly request: GenerateRequest
  readonly setup: GenerateSetup
  readonly out: string
  readonly json: boolean
}

export const generateCommand: Command = {
  name: "generate",
  summary: "Generate one image with the ONNX model on rank processes and write it as a PNG",
  usage: "--prompt TEXT --out FILE.png [--negative TEXT] [--steps 20] [--size 64] [--guidance 1] [--seed S] [--ranks 1|2] [--lora FILE] [--model DIR] [--json]",
  help: renderFlags(flags),
  run: async (args, { io }) => {
    const parsed = parseFlags(args, flags)
    if (typeof parsed === "string") return usageError(io, parsed)
    const options = generateOptions(parsed)
    if (typeof options === "string") return usageError(io, options)
    let generated: Generated
    try {
      generated = await generateOnce(options.request, options.setup)
    } catch (error) {
      if ((error as { readonly _tag?: unknown })._tag === "GenerateInputError") return usageError(io, (error as GenerateInputError).reason)
      io.stderr(`rankwise generate: ${error instanceof Error ? error.message : String(error)}\n`)
      return EXIT_FAILURE
    }
    try {
      await writeFile(options.out, generated.png)
    } catch (error) {
      io.stderr(`rankwise generate: cannot write ${options.out}: ${(error as Error).message}\n`)
      return EXIT_FAILURE
    }
    io.stdout(options.json ? `${JSON.stringify(jsonReport(options, generated), null, 2)}\n` : textReport(options, generated))
    return EXIT_OK
  }
}

const usageError = (io: Io, message: string): number => {
  io.stderr(`rankwise generate: ${message}\nRun 'rankwise help generate' for the options.\n`)
  return EXIT_USAGE
}

const text = (parsed: ParsedFlags, name: string): string | undefined => {
  const value = parsed.get(name)
  return typeof value === "string" ? value : undefined
}

const parseScale = (raw: string, name: string): number | string => {
  const value = Number(raw)
  return raw.trim() !== "" && Number.isFinite(value) && value >= 0 ? value : `--${name} must be a number of at least 0, got '${raw}'`
}

/** Every flag checked, or the first problem. The model-dependent checks come later (checkInputs). */
const generateOptions = (parsed: ParsedFlags): GenerateOptions | string => {
  const prompt = text(parsed, "prompt")
  if (prompt === undefined) return "--prompt is required"
  const out = text(parsed, "out")
  if (out === undefined) return "--out is required (the PNG file to write)"
  const steps = parseInteger(text(parsed, "steps") ?? "20", "steps", 1, 1000)
  const size = parseInteger(text(parsed, "size") ?? "64", "size", 8, 2048)
  const guidance = parseScale(text(parsed, "guidance") ?? "1", "guidance")
  const seedText = text(parsed, "seed")
  const seed = seedText === undefined ? undefined : parseInteger(seedText, "seed", 0, 0xffff_ffff)
  const ranks = parseInteger(text(parsed, "ranks") ?? "1", "ranks", 1, 2)
  const loraScale = parseScale(text(parsed, "lora-scale") ?? "1", "lora-scale")
  for (const value of [steps, size, guidance, seed, ranks, loraScale]) if (typeof value === "string") return value
  if ((size as number) % 8 !== 0) return `--size must be a multiple of 8, got ${size}`
  const providers = (text(parsed, "providers") ?? "cuda,cpu").split(",").map((name) => name.trim()).filter((name) => name !== "")
  if (providers.length === 0) return "--providers must name at least one execution provider"
  const lora = text(parsed, "lora")
  return {
    request: {
      prompt,
      negativePrompt: text(parsed, "negative"),
      steps: steps as number,
      size: size as number,
      guidanceScale: guidance as number,
      seed: seed as number | undefined,
      lora: lora === undefined ? undefined : { file: lora, scale: loraScale as number }
    },
    setup: { ranks: ranks as 1 | 2, modelDir: text(parsed, "model"), providers },
    out,
    json: parsed.has("json")
  }
}

const ms = (value: number) => `${value.toFixed(1)} ms`

const providerLine = (generated: Generated): string => {
  const passed = generated.provider.tried.map((attempt) => `${attempt.provider} (${attempt.error.split("\n")[0].slice(0, 120)})`)
  return `${generated.provider.provider}${passed.length > 0 ? `; passed over: ${passed.join("; ")}` : "; no fallback needed"}`
}

const textReport = (options: GenerateOptions, generated: Generated): string => {
  const { timings, item } = generated
  const guided = options.request.negativePrompt !== undefined && options.request.guidanceScale > 1
  const steps = timings.stepMs.map((stepMs, index) =>
    `  step ${String(index + 1).padStart(4)}  ${ms(stepMs)}${timings.exchangeMs ? `  (waiting on the peer rank ${ms(timings.exchangeMs[index])})` : ""}`)
  return [
    `wrote ${options.out} (${item.width}x${item.height}, seed ${item.seed}${item.adapterId === null ? "" : `, adapter ${options.request.lora?.file}`})`,
    `provider: ${providerLine(generated)}`,
    `ranks: ${options.setup.ranks}${generated.cfgParallel ? " (guidance split across ranks 0 and 1)" : guided ? "" : " (unguided)"}`,
    `encode ${ms(timings.encodeMs)}, ${timings.stepMs.length} steps ${ms(sum(timings.stepMs))}, decode ${ms(timings.decodeMs)} (output rank)`,
    ...steps,
    `prepare ${ms(generated.prepareMs)}, start ranks ${ms(generated.startMs)}${generated.loraMs > 0 ? `, add adapter ${ms(generated.loraMs)}` : ""}, request ${ms(generated.requestMs)}`,
    `total ${ms(generated.totalMs)}`,
    ""
  ].join("\n")
}

const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)

const jsonReport = (options: GenerateOptions, generated: Generated) => ({
  out: options.out,
  width: generated.item.width,
  height: generated.item.height,
  seed: generated.item.seed,
  steps: options.request.steps,
  guidanceScale: options.request.guidanceScale,
  negativePrompt: options.request.negativePrompt ?? null,
  lora: options.request.lora ?? null,
  ranks: options.setup.ranks,
  cfgParallel: generated.cfgParallel,
  provider: generated.provider,
  timings: generated.timings,
  prepareMs: generated.prepareMs,
  startMs: generated.startMs,
  loraMs: generated.loraMs,
  requestMs: generated.requestMs,
  totalMs: generated.totalMs
})

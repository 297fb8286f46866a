/**
 * `rankwise lora create`: writes a LoRA adapter file (`.rwlora`) for the ONNX model.
 *
 * The adapter is random, seeded (there is no training here): a low-rank pair for every weight
 * the model lets adapters target, taken from the default model's shape, or from `--model DIR`'s
 * manifest. `generate --lora FILE` applies it. Exit codes: 0 written, 1 the file could not be
 * written, 2 bad usage (or a `--model` that is not a model).
 */
import { Effect, Exit } from "effect"
import { encodeLora } from "../backends/onnx/lora-file.ts"
import { createLora, type LoraTarget } from "../backends/onnx/lora.ts"
import { loadModel } from "../backends/onnx/model.ts"
import { defaultModelConfig, loraTargets, resolveModelConfig } from "../backends/onnx/weights.ts"
import { writeFile } from "node:fs/promises"
import { type FlagSpec, parseFlags, type ParsedFlags, parseInteger, renderFlags } from "./args.ts"
import type { Command, Io } from "./main.ts"

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

const createFlags: ReadonlyArray<FlagSpec> = [
  { name: "seed", value: true, help: "seed of the adapter's weights (required)" },
  { name: "rank", value: true, help: "LoRA rank, 1 to 64 (required)" },
  { name: "out", value: true, help: "the .rwlora file to write (required)" },
  { name: "scale", value: true, help: "the adapter's own scale (alpha / rank)", defaultText: "1" },
  { name: "model", value: true, help: "model directory whose LoRA targets to use; the default model's when absent" }
]

export const loraCommand: Command = {
  name: "lora",
  summary: "Create a LoRA adapter file for the ONNX model (rankwise lora create ...)",
  usage: "create --seed N --rank R --out FILE [--scale S] [--model DIR]",
  help: renderFlags(createFlags),
  run: async (args, { io }) => {
    const [subcommand, ...rest] = args
    if (subcommand !== "create") return usageError(io, subcommand === undefined ? "a subcommand is required: create" : `unknown subcommand '${subcommand}' (known: create)`)
    const parsed = parseFlags(rest, createFlags)
    if (typeof parsed === "string") return usageError(io, parsed)
    const options = createOptions(parsed)
    if (typeof options === "string") return usageError(io, options)
    const targets = await targetsOf(options.modelDir)
    if (typeof targets === "string") return usageError(io, targets)
    const lora = createLora({ seed: options.seed, rank: options.rank, targets, scale: options.scale })
    const bytes = encodeLora(lora)
    try {
      await writeFile(options.out, bytes)
    } catch (error) {
      io.stderr(`rankwise lora create: cannot write ${options.out}: ${(error as Error).message}\n`)
      return EXIT_FAILURE
    }
    io.stdout(`wrote ${options.out}: rank ${options.rank}, scale ${options.scale}, ${bytes.length} bytes, targets ${targets.map((target) => target.name).join(", ")}\n`)
    return EXIT_OK
  }
}

const usageError = (io: Io, message: string): number => {
  io.stderr(`rankwise lora: ${message}\nRun 'rankwise help lora' for the options.\n`)
  return EXIT_USAGE
}

const text = (parsed: ParsedFlags, name: string): string | undefined => {
  const value = parsed.get(name)
  return typeof value === "string" ? value : undefined
}

const createOptions = (parsed: ParsedFlags) => {
  const seedText = text(parsed, "seed")
  const rankText = text(parsed, "rank")
  const out = text(parsed, "out")
  if (seedText === undefined) return "--seed is required"
  if (rankText === undefined) return "--rank is required"
  if (out === undefined) return "--out is required"
  const seed = parseInteger(seedText, "seed", 0, 0x7fff_ffff)
  const rank = parseInteger(rankText, "rank", 1, 64)
  if (typeof seed === "string") return seed
  if (typeof rank === "string") return rank
  const scaleText = text(parsed, "scale") ?? "1"
  const scale = Number(scaleText)
  if (scaleText.trim() === "" || !Number.isFinite(scale)) return `--scale must be a number, got '${scaleText}'`
  return { seed, rank, out, scale, modelDir: text(parsed, "model") }
}

/** The LoRA targets of `--model DIR`, or of the default model's shape. */
const targetsOf = async (modelDir: string | undefined): Promise<ReadonlyArray<LoraTarget> | string> => {
  if (modelDir === undefined) return loraTargets(resolveModelConfig({ ...defaultModelConfig, seed: 1 }))
  const model = await Effect.runPromiseExit(loadModel(modelDir))
  if (Exit.isFailure(model)) return `--model ${modelDir} is not a usable model (build one with 'rankwise model build --out DIR')`
  return model.value.manifest.loraTargets
}

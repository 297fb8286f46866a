/**
 * `rankwise model build`: writes the ONNX model's files into a directory.
 *
 * The model is the small latent-diffusion model backends/onnx builds from a seed (there is no
 * model hub here): three `.onnx` graphs and `model.json`, the manifest a rank checks every file
 * against when it loads. `generate --model DIR` and `lora create --model DIR` use the result.
 * Exit codes: 0 written, 1 the files could not be written, 2 bad usage.
 */
import { saveModel } from "../backends/onnx/model.ts"
import { type FlagSpec, parseFlags, parseInteger, renderFlags } from "./args.ts"
import type { Command, Io } from "./main.ts"

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

const buildFlags: ReadonlyArray<FlagSpec> = [
  { name: "out", value: true, help: "directory to write the model into (created if missing; required)" },
  { name: "seed", value: true, help: "seed of the weights", defaultText: "1" },
  { name: "json", value: false, help: "print the manifest as JSON" }
]

export const modelCommand: Command = {
  name: "model",
  summary: "Build the ONNX model's files (rankwise model build --out DIR)",
  usage: "build --out DIR [--seed N] [--json]",
  help: renderFlags(buildFlags),
  run: async (args, { io }) => {
    const [subcommand, ...rest] = args
    if (subcommand !== "build") return usageError(io, subcommand === undefined ? "a subcommand is required: build" : `unknown subcommand '${subcommand}' (known: build)`)
    const parsed = parseFlags(rest, buildFlags)
    if (typeof parsed === "string") return usageError(io, parsed)
    const out = parsed.get("out")
    if (typeof out !== "string") return usageError(io, "--out is required")
    const seedText = parsed.get("seed")
    const seed = parseInteger(typeof seedText === "string" ? seedText : "1", "seed", 0, 0x7fff_ffff)
    if (typeof seed === "string") return usageError(io, seed)
    let manifest: Awaited<ReturnType<typeof saveModel>>
    try {
      manifest = await saveModel(out, { seed })
    } catch (error) {
      io.stderr(`rankwise model build: cannot write ${out}: ${(error as Error).message}\n`)
      return EXIT_FAILURE
    }
    if (parsed.has("json")) {
      io.stdout(`${JSON.stringify({ out, manifest }, null, 2)}\n`)
      return EXIT_OK
    }
    const files = Object.values(manifest.files).map((file) => `  ${file.file.padEnd(18)} ${String(file.bytes).padStart(8)} bytes  sha256 ${file.sha256.slice(0, 16)}`)
    io.stdout([
      `wrote the model (seed ${seed}) to ${out}`,
      ...files,
      `weights: ${manifest.weightsBytes} bytes; LoRA targets: ${manifest.loraTargets.map((target) => target.name).join(", ")}`,
      ""
    ].join("\n"))
    return EXIT_OK
  }
}

const usageError = (io: Io, message: string): number => {
  io.stderr(`rankwise model: ${message}\nRun 'rankwise help model' for the options.\n`)
  return EXIT_USAGE
}

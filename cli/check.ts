/**
 * `rankwise check`: the conformance verdict of a backend, and `rankwise mutants`: proof that
 * the suites catch broken cores.
 *
 * `check` runs every property (or `--property ID`) against `--backend`, prints a table with the
 * shortest counterexample and a replay line per failure, and exits 0 when all pass, 1 when any
 * fails, 2 on bad usage. A replay line reruns exactly one failing case (`--seed`, `--path`,
 * `--commands-path`). `mutants` runs the suites against each mutant of the catalogue and exits 0
 * only if every mutant is killed.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  ConformanceOptionsError, type ConformanceReport, conformanceProperties, type MutantReport, mutantById,
  mutantCatalogue, renderConformanceReport, renderMutantReport, runConformance, runMutants
} from "../conformance/index.ts"
import type { CorePolicy } from "../core/policy.ts"
import { type FlagSpec, flagText, parseDurationMs, parseFlags, type ParsedFlags, parseInteger, renderFlags } from "./args.ts"
import { harnessFactoryFor } from "./backends.ts"
import type { Command, Io } from "./main.ts"
import { mainJobDefaults, runMainJob } from "./main-job.ts"
import { makeReportImages } from "./main-job-images.ts"
import { makeProgress } from "./progress.ts"

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

const commonFlags: ReadonlyArray<FlagSpec> = [
  { name: "backend", value: true, help: "sim, process, onnx (ONNX Runtime models in rank processes) or nats (rank processes over a NATS server)", defaultText: "sim" },
  { name: "nats", value: true, help: "NATS server URL for --backend nats (token from RANKWISE_NATS_TOKEN)" },
  { name: "cluster", value: true, help: "cluster id for --backend nats", defaultText: "rankwise" },
  { name: "runs", value: true, help: "generated cases per property", defaultText: "100" },
  { name: "seed", value: true, help: "fast-check seed (a fresh one is printed when absent)" },
  { name: "time-limit", value: true, help: "wall-clock bound for the whole run (30s, 2m)" },
  { name: "json", value: false, help: "print the report as JSON" },
  { name: "report", value: true, help: "write the report (report.json, and index.html for the main job) into this folder", defaultText: "rankwise-report for the main job" }
]

const checkFlags: ReadonlyArray<FlagSpec> = [
  ...commonFlags,
  { name: "property", value: true, help: `comma list of property ids (${conformanceProperties.map((property) => property.id).join(", ")})` },
  { name: "path", value: true, help: "replay path of one failing case (with --seed and one --property)" },
  { name: "commands-path", value: true, help: "commands replay path of a model-based property's failing case" },
  { name: "mutant", value: true, help: "run on a mutant of the core (see rankwise mutants)" },
  { name: "policy", value: true, help: "run on a core with these decision points overridden (JSON)" }
]

const mutantFlags: ReadonlyArray<FlagSpec> = [
  ...commonFlags,
  { name: "mutant", value: true, help: `comma list of mutant ids (${mutantCatalogue.map((mutant) => mutant.id).join(", ")})` },
  { name: "full-matrix", value: false, help: "run every property on every mutant instead of stopping at the first kill" }
]

export const checkCommand: Command = {
  name: "check",
  summary: "The verdict: conformance, mutants and a swarm sweep on the simulator, then real ranks with real faults, and a report folder (with --backend: that backend's conformance only)",
  usage: "[--backend sim|process|onnx] [--runs N] [--seed S] [--time-limit 60s] [--json] [--report DIR]",
  help: renderFlags(checkFlags),
  run: async (args, { io }) => {
    const parsed = parseFlags(args, checkFlags)
    if (typeof parsed === "string") return usageError(io, "check", parsed)
    if (isMainJob(parsed)) return runMainJobFrom(io, parsed)
    const common = commonOptions(parsed)
    if (typeof common === "string") return usageError(io, "check", common)
    const policy = policyOption(parsed)
    if (typeof policy === "string") return usageError(io, "check", policy)
    const text = (name: string) => flagText(parsed, name, undefined)
    const progress = makeProgress("check", (text("property")?.split(",").length ?? conformanceProperties.length), process.stderr)
    let done = 0
    let report: ConformanceReport
    try {
      report = await runConformance({
        ...common, ...policy,
        properties: text("property")?.split(",").map((id) => id.trim()),
        path: text("path"),
        commandsPath: text("commands-path"),
        onProgress: (event) => event._tag === "PropertyFinished" && progress.update(++done, event.report.id)
      })
    } catch (error) {
      if (error instanceof ConformanceOptionsError) return usageError(io, "check", error.message)
      throw error
    }
    progress.finish()
    writeReport(parsed, report)
    io.stdout(parsed.has("json") ? `${JSON.stringify(report, null, 2)}\n` : `${renderConformanceReport(report)}\n`)
    return report.totals.failed === 0 ? EXIT_OK : EXIT_FAILURE
  }
}

export const mutantsCommand: Command = {
  name: "mutants",
  summary: "Run the suites against deliberately broken cores; every mutant must be killed",
  usage: "[--backend sim] [--runs N] [--seed S] [--mutant IDS] [--full-matrix] [--json]",
  help: renderFlags(mutantFlags),
  run: async (args, { io }) => {
    const parsed = parseFlags(args, mutantFlags)
    if (typeof parsed === "string") return usageError(io, "mutants", parsed)
    const common = commonOptions(parsed)
    if (typeof common === "string") return usageError(io, "mutants", common)
    const ids = typeof parsed.get("mutant") === "string" ? String(parsed.get("mutant")).split(",").map((id) => id.trim()) : undefined
    const unknown = (ids ?? []).filter((id) => mutantById(id) === undefined)
    if (unknown.length > 0) return usageError(io, "mutants", `unknown mutant(s) ${unknown.join(", ")}`)
    const progress = makeProgress("mutants", ids?.length ?? mutantCatalogue.length, process.stderr)
    let done = 0
    const report: MutantReport = await runMutants({
      ...common, mutants: ids, fullMatrix: parsed.has("full-matrix"),
      onProgress: (event) => progress.update(++done, event.result.id)
    })
    progress.finish()
    writeReport(parsed, report)
    io.stdout(parsed.has("json") ? `${JSON.stringify(report, null, 2)}\n` : `${renderMutantReport(report)}\n`)
    return report.totals.survived === 0 ? EXIT_OK : EXIT_FAILURE
  }
}

const usageError = (io: Io, command: string, message: string): number => {
  io.stderr(`rankwise ${command}: ${message}\nRun 'rankwise help ${command}' for the options.\n`)
  return EXIT_USAGE
}

const commonOptions = (parsed: ParsedFlags) => {
  const text = (name: string) => flagText(parsed, name, undefined)
  const backend = harnessFactoryFor(text("backend") ?? "sim", { url: text("nats"), cluster: text("cluster") })
  if ("usage" in backend) return backend.usage
  const numRuns = parseInteger(text("runs") ?? "100", "runs", 1, 100_000)
  const seed = text("seed") === undefined ? undefined : parseInteger(text("seed")!, "seed", 0, 0x7fff_ffff)
  const timeLimitMs = text("time-limit") === undefined ? undefined : parseDurationMs(text("time-limit")!, "time-limit")
  for (const value of [numRuns, seed, timeLimitMs]) if (typeof value === "string") return value
  return { backend, numRuns: numRuns as number | undefined, seed: seed as number | undefined, timeLimitMs: timeLimitMs as number | undefined }
}

const policyOption = (parsed: ParsedFlags): { policy?: Partial<CorePolicy>; replayFlags?: ReadonlyArray<string> } | string => {
  const mutantId = parsed.get("mutant")
  if (typeof mutantId === "string") {
    const mutant = mutantById(mutantId)
    return mutant ? { policy: mutant.policy, replayFlags: ["--mutant", mutant.id] } : `unknown mutant '${mutantId}'`
  }
  const policy = parsed.get("policy")
  if (typeof policy !== "string") return {}
  try {
    const value: unknown = JSON.parse(policy)
    return typeof value === "object" && value !== null ? { policy: value as Partial<CorePolicy> } : "--policy must be a JSON object"
  } catch (error) {
    return `--policy is not JSON: ${(error as Error).message}`
  }
}

const writeReport = (parsed: ParsedFlags, report: unknown) => {
  const folder = parsed.get("report")
  if (typeof folder !== "string") return
  mkdirSync(folder, { recursive: true })
  writeFileSync(join(folder, "report.json"), JSON.stringify(report, null, 2))
}

/** Without a backend, property, replay or mutant, `check` is the main job over every backend. */
const isMainJob = (parsed: ParsedFlags): boolean =>
  !["backend", "property", "path", "commands-path", "mutant", "policy", "time-limit", "nats"].some((name) => parsed.has(name))

const runMainJobFrom = async (io: Io, parsed: ParsedFlags): Promise<number> => {
  const text = (name: string) => flagText(parsed, name, undefined)
  const seed = text("seed") === undefined ? mainJobDefaults.seed : parseInteger(text("seed")!, "seed", 0, 0x7fff_ffff)
  const simRuns = text("runs") === undefined ? mainJobDefaults.simRuns : parseInteger(text("runs")!, "runs", 1, 100_000)
  for (const value of [seed, simRuns]) if (typeof value === "string") return usageError(io, "check", value)
  return runMainJob(io, {
    ...mainJobDefaults,
    seed: seed as number,
    simRuns: simRuns as number,
    reportFolder: text("report") ?? mainJobDefaults.reportFolder,
    json: parsed.has("json")
  }, makeReportImages)
}

/**
 * `rankwise simulate`: runs a scenario file on the in-process simulated cluster.
 *
 * With `--json` it prints one JSON document (the scenario report: seed, per-step results with
 * per-rank outcomes, and the ranks' ground truth at the end); without it, a readable table.
 * A malformed scenario is a usage error (exit 2) whose message names the bad field.
 */
import { readFileSync } from "node:fs"
import { Result } from "effect"
import { decodeScenario } from "../simulator/scenario/format.ts"
import { runScenario, type ScenarioReport, type StepReport } from "../simulator/scenario/run.ts"
import { simHarnessFactory } from "../simulator/harness.ts"
import type { Command, Io } from "./main.ts"

export const EXIT_OK = 0
/** The scenario ran, but did not meet the expectations it states. */
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

interface SimulateArgs {
  readonly scenarioPath: string
  readonly json: boolean
}

const usage = "--scenario FILE.json [--json]"

const parseArgs = (args: ReadonlyArray<string>): SimulateArgs | string => {
  let scenarioPath: string | undefined
  let json = false
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]
    if (arg === "--json") json = true
    else if (arg === "--scenario") scenarioPath = args[++index]
    else if (arg.startsWith("--scenario=")) scenarioPath = arg.slice("--scenario=".length)
    else return `unknown argument '${arg}'`
  }
  if (scenarioPath === undefined || scenarioPath === "") return "--scenario FILE is required"
  return { scenarioPath, json }
}

const readScenario = (path: string): unknown | string => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    return `cannot read scenario '${path}': ${(error as Error).message}`
  }
  try {
    return { parsed: JSON.parse(text) }
  } catch (error) {
    return `scenario '${path}' is not JSON: ${(error as Error).message}`
  }
}

export const simulateCommand: Command = {
  name: "simulate",
  summary: "Run a scenario file on simulated ranks (virtual time, injected faults)",
  usage,
  run: async (args, { io }) => {
    const parsed = parseArgs(args)
    if (typeof parsed === "string") return usageError(io, parsed)
    const file = readScenario(parsed.scenarioPath)
    if (typeof file === "string") return usageError(io, file)
    const scenario = decodeScenario((file as { parsed: unknown }).parsed)
    if (Result.isFailure(scenario)) return usageError(io, scenario.failure.message)
    const report = await runScenario(scenario.success, simHarnessFactory)
    io.stdout(parsed.json ? `${JSON.stringify(report, null, 2)}\n` : renderTable(report))
    return (report.expectations?.mismatches.length ?? 0) > 0 ? EXIT_FAILURE : EXIT_OK
  }
}

const usageError = (io: Io, message: string): number => {
  io.stderr(`rankwise simulate: ${message}\nUsage: rankwise simulate ${usage}\n`)
  return EXIT_USAGE
}

/** A step-by-step table for people: op, verdict, per-rank outcomes, and a short result. */
export const renderTable = (report: ScenarioReport): string => {
  const rows = report.steps.map((step, index) => [
    String(index + 1),
    step.op,
    step.ok ? "ok" : "FAIL",
    step.outcomes ? step.outcomes.map((outcome) => `${outcome.rank}:${outcome.tag}`).join(" ") : "",
    `${step.atMs}`,
    summarize(step)
  ])
  const header = ["#", "op", "result", "ranks", "at ms", "detail"]
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]))).join("  ")
  const ranks = report.final.ranks.map((rank) =>
    `  rank ${rank.rank}: ${rank.alive ? "alive" : "stopped"}${rank.asleep ? ", asleep" : ""}, adapters [${rank.loras.join(", ")}]`)
  const mismatches = (report.expectations?.mismatches ?? []).map((mismatch) =>
    `  MISMATCH ${mismatch.at}: expected ${JSON.stringify(mismatch.expected)}, got ${JSON.stringify(mismatch.actual)}`)
  const expectations = report.expectations
    ? [`expectations: ${report.expectations.checked - mismatches.length} of ${report.expectations.checked} met`, ...mismatches]
    : []
  return [
    `seed ${report.seed}`,
    line(header),
    ...rows.map(line),
    "",
    `engine state: ${report.final.engineState}`,
    "ranks (ground truth):",
    ...ranks,
    ...expectations,
    ""
  ].join("\n")
}

const detailWidthMax = 110

const summarize = (step: StepReport): string => {
  const text = step.ok ? describeValue(step.value) : `${step.error?._tag}: ${step.error?.message}`
  return text.length > detailWidthMax ? `${text.slice(0, detailWidthMax - 1)}…` : text
}

const describeValue = (value: unknown): string => {
  if (value === undefined) return ""
  const object = value as Record<string, unknown>
  if (object && typeof object === "object" && "state" in object && "survivingRanks" in object) {
    return `close: ${String(object.state)}, stopped [${String(object.stoppedRanks)}], surviving [${String(object.survivingRanks)}]`
  }
  if (object && typeof object === "object" && "output" in object && "requestId" in object) {
    const output = object.output as { primary?: string; batchSize?: number }
    return `${String(object.requestId)}: ${output.batchSize} ${output.primary} output(s) in batch ${String(object.batchId)}`
  }
  return JSON.stringify(value, (_key, inner) => (Array.isArray(inner) && inner.length > 8 ? `[${inner.length} items]` : inner))
}

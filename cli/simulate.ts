/**
 * `rankwise simulate`: scripted scenarios, or seeded runs and sweeps on the simulator.
 *
 * With `--scenario FILE` it runs a scenario file (on the simulator, or `--backend process`).
 * Otherwise it runs seeds: each seed chooses its faults (`--faults swarm`, a list, or `none`)
 * within `--budget`, drives a random workload for `--duration` of virtual time, checks every
 * operation against the reference model, then heals and requires that everything finishes.
 * Every failure prints the one line that replays it. Exit codes: 0 all passed, 1 a run failed
 * (safety, liveness, determinism, a required path not reached, or a scenario expectation not
 * met), 2 bad usage.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { Result } from "effect"
import { decodeScenario } from "../simulator/scenario/format.ts"
import { runScenario } from "../simulator/scenario/run.ts"
import { simHarnessFactory } from "../simulator/harness.ts"
import { runSimulation, type SimRunOptions } from "../simulator/sim-run.ts"
import { type FaultSelection, safetyBudget, type SwarmBudget, swarmFaultKinds, type SwarmFaultKind } from "../simulator/swarm.ts"
import { renderCoverage, runSweep, type SweepReport } from "../simulator/sweep.ts"
import { toChromeTrace } from "../simulator/trace.ts"
import { type FlagSpec, flagText, parseDurationMs, parseFlags, type ParsedFlags, parseInteger, renderFlags } from "./args.ts"
import { harnessFactoryFor } from "./backends.ts"
import type { Command, Io } from "./main.ts"
import { makeProgress } from "./progress.ts"
import { renderTable } from "./render-scenario.ts"

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

const flags: ReadonlyArray<FlagSpec> = [
  { name: "scenario", value: true, help: "run a scenario file instead of seeded runs" },
  { name: "backend", value: true, help: "backend for --scenario: sim, process, onnx or nats", defaultText: "sim" },
  { name: "nats", value: true, help: "NATS server URL for --backend nats (token from RANKWISE_NATS_TOKEN)" },
  { name: "cluster", value: true, help: "cluster id for --backend nats", defaultText: "rankwise" },
  { name: "seed", value: true, help: "run seed (the first of a sweep)", defaultText: "1" },
  { name: "seeds", value: true, help: "how many seeds to sweep, from --seed", defaultText: "1" },
  { name: "ranks", value: true, help: "world size", defaultText: "4" },
  { name: "duration", value: true, help: "virtual duration of the fault phase (500ms, 10s, 2m)", defaultText: "10s" },
  { name: "faults", value: true, help: `swarm, none, or a comma list of ${swarmFaultKinds.join(", ")}`, defaultText: "swarm" },
  { name: "budget", value: true, help: "faulty-ranks=N,crashes=true|false", defaultText: "faulty-ranks=half the ranks,crashes=true" },
  { name: "rate", value: true, help: "workload operations per virtual second", defaultText: "40" },
  { name: "require-paths", value: true, help: "comma list of rare paths a sweep must reach" },
  { name: "trace", value: true, help: "write the (first) run's Chrome trace-event JSON to this file (opens in Perfetto)" },
  { name: "check-determinism", value: false, help: "run every seed twice and require the same trace hash" },
  { name: "json", value: false, help: "print one JSON document" }
]

export const simulateCommand: Command = {
  name: "simulate",
  summary: "Run seeded fault-injection simulations, or a scenario file",
  usage: "[--scenario FILE] [--seed S] [--seeds N] [--ranks N] [--duration D] [--faults swarm|LIST] [--json] ...",
  help: renderFlags(flags),
  run: async (args, { io }) => {
    const parsed = parseFlags(args, flags)
    if (typeof parsed === "string") return usageError(io, parsed)
    const scenarioPath = parsed.get("scenario")
    if (typeof scenarioPath === "string") return runScenarioFile(io, scenarioPath, parsed)
    const options = runOptions(parsed)
    if (typeof options === "string") return usageError(io, options)
    return runSeeds(io, options, parsed)
  }
}

const usageError = (io: Io, message: string): number => {
  io.stderr(`rankwise simulate: ${message}\nRun 'rankwise help simulate' for the options.\n`)
  return EXIT_USAGE
}

// ---------------------------------------------------------------------------------------------
// Scenario files
// ---------------------------------------------------------------------------------------------

const runScenarioFile = async (io: Io, path: string, parsed: ParsedFlags): Promise<number> => {
  const backendName = parsed.get("backend")
  const backend = harnessFactoryFor(typeof backendName === "string" ? backendName : "sim", {
    url: flagText(parsed, "nats", undefined), cluster: flagText(parsed, "cluster", undefined)
  })
  if ("usage" in backend) return usageError(io, backend.usage)
  let input: unknown
  try {
    input = JSON.parse(readFileSync(path, "utf8"))
  } catch (error) {
    return usageError(io, `cannot read scenario '${path}': ${(error as Error).message}`)
  }
  const scenario = decodeScenario(input)
  if (Result.isFailure(scenario)) return usageError(io, scenario.failure.message)
  const report = await runScenario(scenario.success, backend)
  io.stdout(parsed.has("json") ? `${JSON.stringify(report, null, 2)}\n` : renderTable(report))
  const failedStart = report.steps[0]?.op === "start" && !report.steps[0].ok
  return failedStart || (report.expectations?.mismatches.length ?? 0) > 0 ? EXIT_FAILURE : EXIT_OK
}

// ---------------------------------------------------------------------------------------------
// Seeded runs and sweeps
// ---------------------------------------------------------------------------------------------

interface SeedOptions {
  readonly run: Omit<SimRunOptions, "seed">
  readonly baseSeed: number
  readonly seeds: number
  readonly requirePaths: ReadonlyArray<string>
}

const runOptions = (parsed: ParsedFlags): SeedOptions | string => {
  const text = (name: string, fallback: string) => flagText(parsed, name, fallback)
  const baseSeed = parseInteger(text("seed", "1"), "seed", 0, 0xffff_ffff)
  const seeds = parseInteger(text("seeds", "1"), "seeds", 1, 1_000_000)
  const ranks = parseInteger(text("ranks", "4"), "ranks", 1, 64)
  const durationMs = parseDurationMs(text("duration", "10s"), "duration")
  const rate = parseInteger(text("rate", "40"), "rate", 1, 10_000)
  for (const value of [baseSeed, seeds, ranks, durationMs, rate]) if (typeof value === "string") return value
  const faults = parseFaults(text("faults", "swarm"))
  if (typeof faults === "string") return faults
  const budget = parsed.has("budget") ? parseBudget(text("budget", ""), ranks as number) : undefined
  if (typeof budget === "string") return budget
  const requirePaths = text("require-paths", "").split(",").map((path) => path.trim()).filter(Boolean)
  return {
    run: { ranks: ranks as number, durationMs: durationMs as number, faults, budget, opsPerSecond: rate as number, keepTrace: parsed.has("trace") },
    baseSeed: baseSeed as number,
    seeds: seeds as number,
    requirePaths
  }
}

const parseFaults = (text: string): FaultSelection | string => {
  if (text === "swarm") return { _tag: "swarm" }
  if (text === "none") return { _tag: "none" }
  const kinds = text.split(",").map((kind) => kind.trim())
  const unknown = kinds.filter((kind) => !(swarmFaultKinds as ReadonlyArray<string>).includes(kind))
  if (unknown.length > 0) return `--faults: unknown fault kind(s) ${unknown.join(", ")}; known: ${swarmFaultKinds.join(", ")}`
  return { _tag: "kinds", kinds: kinds as ReadonlyArray<SwarmFaultKind> }
}

const parseBudget = (text: string, ranks: number): SwarmBudget | string => {
  let budget = safetyBudget(ranks)
  for (const part of text.split(",").filter(Boolean)) {
    const [key, value] = part.split("=")
    if (key === "faulty-ranks") {
      const count = parseInteger(value ?? "", "budget faulty-ranks", 0, ranks)
      if (typeof count === "string") return count
      budget = { ...budget, faultyRanksMax: count }
    } else if (key === "crashes" && (value === "true" || value === "false")) {
      budget = { ...budget, crashes: value === "true" }
    } else {
      return `--budget: expected faulty-ranks=N or crashes=true|false, got '${part}'`
    }
  }
  return budget
}

const runSeeds = (io: Io, options: SeedOptions, parsed: ParsedFlags): number => {
  const json = parsed.has("json")
  const progress = makeProgress("simulate", options.seeds, process.stderr)
  let failed = 0
  let firstTrace: ReturnType<typeof runSimulation> | undefined
  const determinismErrors: Array<{ seed: number; first: string; second: string }> = []
  const report = runSweep({
    ...options.run,
    baseSeed: options.baseSeed,
    seeds: options.seeds,
    requirePaths: options.requirePaths,
    onSeed: (result, index) => {
      if (index === 0) {
        firstTrace = result
        if (!json) io.stdout(`seed ${result.seed}: ${result.configuration}\n`)
      }
      if (parsed.has("check-determinism")) {
        const again = runSimulation({ ...options.run, seed: result.seed })
        if (again.traceHash !== result.traceHash) determinismErrors.push({ seed: result.seed, first: result.traceHash, second: again.traceHash })
      }
      if (result.status !== "ok") {
        failed++
        if (!json) io.stdout(`\nFAIL seed ${result.seed} (${result.status}): ${result.violation?.invariant}: ${result.violation?.message}\n  at ${result.violation?.atMs} ms; ${result.configuration}\n  replay: ${result.replay}\n`)
      }
      progress.update(index + 1, `${failed} failed`)
    }
  })
  progress.finish()
  const tracePath = parsed.get("trace")
  if (typeof tracePath === "string" && firstTrace?.trace) {
    writeFileSync(tracePath, JSON.stringify(toChromeTrace(firstTrace.trace, options.run.ranks, `rankwise seed ${firstTrace.seed}`)))
  }
  const ok = report.failures.length === 0 && determinismErrors.length === 0 && report.missingPaths.length === 0
  io.stdout(json ? `${JSON.stringify(jsonReport(report, determinismErrors, firstTrace), null, 2)}\n` : summary(report, determinismErrors, parsed))
  return ok ? EXIT_OK : EXIT_FAILURE
}

const jsonReport = (report: SweepReport, determinismErrors: ReadonlyArray<unknown>, first: ReturnType<typeof runSimulation> | undefined) => ({
  ...report,
  determinismErrors,
  first: first && { seed: first.seed, status: first.status, configuration: first.configuration, traceHash: first.traceHash, operations: first.operations, executor: first.executor, virtualMs: first.virtualMs, replay: first.replay }
})

const summary = (report: SweepReport, determinismErrors: ReadonlyArray<{ seed: number; first: string; second: string }>, parsed: ParsedFlags): string => {
  const lines = [
    "",
    renderCoverage(report),
    `${report.seeds} seed(s) from ${report.baseSeed}: ${report.passed} passed, ${report.failures.length} failed; ${report.operations} operations over ${(report.virtualMs / 1000).toFixed(1)} virtual seconds`
  ]
  if (parsed.has("check-determinism")) {
    lines.push(determinismErrors.length === 0
      ? "determinism: every seed gave the same trace hash twice"
      : `determinism: FAILED for ${determinismErrors.map((error) => `seed ${error.seed} (${error.first} vs ${error.second})`).join(", ")}`)
  }
  for (const failure of report.failures) lines.push(`replay: ${failure.replay}`)
  return `${lines.join("\n")}\n`
}

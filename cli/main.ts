/**
 * The `rankwise` command.
 *
 * Commands live in one table (`commands`); each has a name, a one-line summary, optional usage
 * text and a `run` function returning an exit code. To add one (e.g. `simulate`, `check`), append
 * an entry to `commands`; help output picks it up.
 *
 * Importing this module has no side effects; it runs `main` only when it is the entry point
 * (`tsx cli/main.ts`, `bun cli/main.ts`, `deno run -A cli/main.ts`). The installed bin
 * (bin/rankwise.mjs) imports dist/cli/main.js and calls `main` itself.
 *
 * Exit codes: 0 success, 1 command failed, 2 usage error (unknown command or bad arguments).
 */
import { realpathSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { checkCommand, mutantsCommand } from "./check.ts"
import { generateCommand } from "./generate.ts"
import { loraCommand } from "./lora.ts"
import { modelCommand } from "./model.ts"
import { rankCommand } from "./rank.ts"
import { sweepCommand, sweepWorkerCommand } from "./sweep.ts"
import { simulateCommand } from "./simulate.ts"
import { version } from "./version.ts"

/** Where a command writes. Tests pass their own to capture output. */
export interface Io {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
}

export interface CommandContext {
  readonly io: Io
  /** The full command table, for commands that describe other commands. */
  readonly commands: ReadonlyArray<Command>
}

export interface Command {
  readonly name: string
  /** Alternative spellings, e.g. `--help`. */
  readonly aliases?: ReadonlyArray<string>
  /** One line, shown in `rankwise help`. */
  readonly summary: string
  /** Argument synopsis shown after the command name, e.g. "[--seed N] [--ranks N]". */
  readonly usage?: string
  /** Longer help: every option with its default, shown by `rankwise help <command>`. */
  readonly help?: string
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  readonly run: (args: ReadonlyArray<string>, ctx: CommandContext) => Promise<number>
}

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text)
}

/** "rankwise 0.1.0": the line `rankwise --version` prints. */
export const versionLine = (): string => `rankwise ${version()}`

export const helpText = (commands: ReadonlyArray<Command>): string => {
  const width = Math.max(...commands.map((command) => command.name.length))
  return [
    versionLine(),
    "",
    "Usage: rankwise <command> [options]",
    "",
    "Commands:",
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "Run 'rankwise help <command>' for its options and their defaults.",
    "Exit codes: 0 success, 1 a check failed (the output says which), 2 bad usage.",
    ""
  ].join("\n")
}

const find = (commands: ReadonlyArray<Command>, name: string): Command | undefined =>
  commands.find((c) => c.name === name || (c.aliases ?? []).includes(name))

const unknownCommand = (io: Io, name: string): number => {
  io.stderr(`rankwise: unknown command '${name}'\nRun 'rankwise --help' for usage.\n`)
  return EXIT_USAGE
}

const helpCommand: Command = {
  name: "help",
  aliases: ["--help", "-h"],
  summary: "Show this help, or one command's usage",
  usage: "[command]",
  run: async (args, { io, commands }) => {
    const topic = args[0]
    if (topic === undefined) {
      io.stdout(helpText(commands))
      return EXIT_OK
    }
    const command = find(commands, topic)
    if (command === undefined) return unknownCommand(io, topic)
    io.stdout(`Usage: rankwise ${command.name}${command.usage ? ` ${command.usage}` : ""}\n\n${command.summary}\n${command.help ? `\nOptions:\n${command.help}\n` : ""}`)
    return EXIT_OK
  }
}

const versionCommand: Command = {
  name: "version",
  aliases: ["--version", "-V"],
  summary: "Print the rankwise version",
  run: async (_args, { io }) => {
    io.stdout(`${versionLine()}\n`)
    return EXIT_OK
  }
}

/** The command table. New commands go here. */
export const commands: ReadonlyArray<Command> = [
  helpCommand, versionCommand, simulateCommand, checkCommand, mutantsCommand, generateCommand, modelCommand, loraCommand,
  rankCommand, sweepCommand, sweepWorkerCommand
]

/**
 * Runs the CLI with `argv` (the arguments after the program name) and resolves to the exit code.
 * Never calls `process.exit`.
 */
export const main = async (
  argv: ReadonlyArray<string> = process.argv.slice(2),
  io: Io = processIo,
  table: ReadonlyArray<Command> = commands
): Promise<number> => {
  const [name, ...rest] = argv
  const ctx: CommandContext = { io, commands: table }
  if (name === undefined) {
    io.stdout(helpText(table))
    return EXIT_OK
  }
  const command = find(table, name)
  if (command === undefined) return unknownCommand(io, name)
  try {
    return await command.run(rest, ctx)
  } catch (error) {
    io.stderr(`rankwise ${command.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    return EXIT_FAILURE
  }
}

/** True when this module is the program's entry point (not when imported, e.g. by bin/ or tests). */
const isEntryPoint = (): boolean => {
  // Bun and Deno (and Node >= 24.2) set import.meta.main.
  const flag = (import.meta as { main?: unknown }).main
  if (typeof flag === "boolean") return flag
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(resolve(script)) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  process.exitCode = await main()
}

/**
 * Command-line flags: a small, strict parser shared by the commands.
 *
 * Each command declares its flags (name, whether it takes a value, a default, help text). An
 * unknown flag or a missing value is a usage error naming the flag, never silently ignored.
 * Durations accept `ms`, `s` and `m` suffixes (`500ms`, `10s`, `2m`); a bare number is ms.
 */
export interface FlagSpec {
  readonly name: string
  /** True when the flag takes a value (`--seed 7` or `--seed=7`). */
  readonly value: boolean
  readonly help: string
  /** Shown in help; the command applies it. */
  readonly defaultText?: string | undefined
}

export type ParsedFlags = ReadonlyMap<string, string | true>

export const parseFlags = (args: ReadonlyArray<string>, specs: ReadonlyArray<FlagSpec>): ParsedFlags | string => {
  const flags = new Map<string, string | true>()
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]
    if (!arg.startsWith("--")) return `unexpected argument '${arg}'`
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2)
    const spec = specs.find((candidate) => candidate.name === name)
    if (spec === undefined) return `unknown option '--${name}'`
    if (!spec.value) {
      if (inline !== undefined) return `option '--${name}' takes no value`
      flags.set(name, true)
      continue
    }
    const value = inline ?? args[++index]
    if (value === undefined || (inline === undefined && value.startsWith("--"))) return `option '--${name}' needs a value`
    flags.set(name, value)
  }
  return flags
}

/** Renders the options block of a command's help, with defaults. */
export const renderFlags = (specs: ReadonlyArray<FlagSpec>): string => {
  const left = specs.map((spec) => `--${spec.name}${spec.value ? " VALUE" : ""}`)
  const width = Math.max(...left.map((text) => text.length))
  return specs.map((spec, index) =>
    `  ${left[index].padEnd(width)}  ${spec.help}${spec.defaultText ? ` (default: ${spec.defaultText})` : ""}`).join("\n")
}

export const parseInteger = (text: string, name: string, min: number, max: number): number | string => {
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) return `--${name} must be an integer from ${min} to ${max}, got '${text}'`
  return value
}

export const parseDurationMs = (text: string, name: string): number | string => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (!match) return `--${name} must be a duration like 500ms, 10s or 2m, got '${text}'`
  const amount = Number(match[1])
  const unit = match[2] ?? "ms"
  return Math.round(amount * (unit === "m" ? 60_000 : unit === "s" ? 1_000 : 1))
}

/** The value of a flag that takes one, or `fallback` when it was not given. */
export const flagText = <F extends string | undefined>(parsed: ParsedFlags, name: string, fallback: F): string | F => {
  const value = parsed.get(name)
  return typeof value === "string" ? value : fallback
}

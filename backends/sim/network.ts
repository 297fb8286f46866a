/**
 * The simulated network between the executor and its ranks: configuration, and what happens to
 * one message on one link.
 *
 * Each rank has two links, one per direction: `request` (executor to rank) and `reply` (rank to
 * executor). Fault model, per link and direction:
 * - delay: each message waits a delay drawn from the link's distribution (fixed, uniform, or
 *   exponential with a cap). Messages keep their order (a later message waits for an earlier
 *   one, as on a TCP stream) unless the network reorders them;
 * - drop: the message never arrives;
 * - duplicate: the message arrives twice, each copy with its own delay;
 * - reorder: the message gets up to `reorderDelayMsMax` extra delay and leaves the stream's
 *   order, so later messages may overtake it;
 * - clog (links.ts): the link holds its messages (a partition) and releases them, in order, when
 *   unclogged.
 * Process exits are not network messages: the platform reports them, on any link (links.ts).
 *
 * Every random choice draws from the `network` stream the cluster hands in, so a seed replays
 * the same network, and a quiet link (no delay, no probability) draws nothing at all.
 */
import { Data, Result, Schema, SchemaIssue } from "effect"
import { assert } from "../../core/assert.ts"
import type { Prng } from "../../core/random.ts"

/** How long one message takes on a link, in virtual milliseconds. */
export type DelayDistribution =
  | { readonly kind: "fixed"; readonly ms: number }
  | { readonly kind: "uniform"; readonly minMs: number; readonly maxMs: number }
  /** Exponential with mean `meanMs`, capped at `maxMs` so every message arrives in bounded time. */
  | { readonly kind: "exponential"; readonly meanMs: number; readonly maxMs: number }

export const directions = ["request", "reply"] as const
/** `request`: executor to rank. `reply`: rank to executor. */
export type Direction = (typeof directions)[number]

/** How one link behaves; absent fields keep their current value (defaults: no delay, no loss). */
export interface LinkConfig {
  readonly delayMs?: DelayDistribution | undefined
  readonly dropProbability?: number | undefined
  readonly duplicateProbability?: number | undefined
  readonly reorderProbability?: number | undefined
  /** The most extra delay a reordered message gets; default 10 ms. */
  readonly reorderDelayMsMax?: number | undefined
}

export type ResolvedLinkConfig = { readonly [K in keyof LinkConfig]-?: Exclude<LinkConfig[K], undefined> }

/**
 * The network of a cluster: settings for every link of a direction, then per-rank overrides
 * (a link entry without a direction sets both of its rank's links).
 */
export interface NetworkConfig {
  readonly request?: LinkConfig | undefined
  readonly reply?: LinkConfig | undefined
  readonly links?: ReadonlyArray<{
    readonly rank: number
    readonly direction?: Direction | undefined
    readonly config: LinkConfig
  }> | undefined
}

export const quietLink: ResolvedLinkConfig = {
  delayMs: { kind: "fixed", ms: 0 },
  dropProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  reorderDelayMsMax: 10
}

/** A network configuration that is malformed: `field` is its path, `rule` what it broke. */
export class InvalidNetworkConfig extends Data.TaggedError("InvalidNetworkConfig")<{
  readonly field: string
  readonly rule: string
}> {
  override get message() { return `invalid network config: ${this.field}: ${this.rule}` }
}

const Ms = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const Probability = Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 })))

const DelayDistributionSchema = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("fixed"), ms: Ms }),
  Schema.Struct({ kind: Schema.Literal("uniform"), minMs: Ms, maxMs: Ms }).check(Schema.makeFilter((uniform) =>
    uniform.minMs <= uniform.maxMs ? undefined : { path: ["maxMs"], issue: "must be at least minMs" })),
  Schema.Struct({ kind: Schema.Literal("exponential"), meanMs: Ms, maxMs: Ms })
])

export const LinkConfigSchema = Schema.Struct({
  delayMs: Schema.optionalKey(DelayDistributionSchema),
  dropProbability: Probability,
  duplicateProbability: Probability,
  reorderProbability: Probability,
  reorderDelayMsMax: Schema.optionalKey(Ms)
})

/** Decodes a network configuration from JSON (scenario files); unknown keys are refused. */
export const NetworkConfigSchema = Schema.Struct({
  request: Schema.optionalKey(LinkConfigSchema),
  reply: Schema.optionalKey(LinkConfigSchema),
  links: Schema.optionalKey(Schema.Array(Schema.Struct({
    rank: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
    direction: Schema.optionalKey(Schema.Literals(directions)),
    config: LinkConfigSchema
  })))
})

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Decodes a network configuration from unknown JSON; never throws. */
export const decodeNetworkConfig = (input: unknown): Result.Result<NetworkConfig, InvalidNetworkConfig> => {
  const decoded = Schema.decodeUnknownResult(NetworkConfigSchema)(input, { onExcessProperty: "error" })
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
  const [first] = formatter(decoded.failure.issue).issues
  const field = first?.path?.map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")
  return Result.fail(new InvalidNetworkConfig({ field: field && field.length > 0 ? field : "(network)", rule: first?.message ?? "invalid" }))
}

/** Checks a configuration built in code against the schema, and its ranks against the world. */
export const checkNetworkConfig = (config: NetworkConfig, worldSize: number): InvalidNetworkConfig | undefined => {
  const decoded = decodeNetworkConfig(withoutUndefined(config))
  if (Result.isFailure(decoded)) return decoded.failure
  const outside = (config.links ?? []).findIndex((link) => link.rank >= worldSize)
  if (outside >= 0) return new InvalidNetworkConfig({ field: `links.${outside}.rank`, rule: `must be below the world size ${worldSize}` })
  return undefined
}

// A field set to undefined in code means "not set"; the schema's optional keys accept only absence.
const withoutUndefined = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutUndefined)
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined).map(([key, field]) => [key, withoutUndefined(field)]))
}

/** `config` applied over `current`: the fields it sets win. */
export const mergeLinkConfig = (current: ResolvedLinkConfig, config: LinkConfig | undefined): ResolvedLinkConfig => ({
  delayMs: config?.delayMs ?? current.delayMs,
  dropProbability: config?.dropProbability ?? current.dropProbability,
  duplicateProbability: config?.duplicateProbability ?? current.duplicateProbability,
  reorderProbability: config?.reorderProbability ?? current.reorderProbability,
  reorderDelayMsMax: config?.reorderDelayMsMax ?? current.reorderDelayMsMax
})

/** What `config` sets for the link of `rank` in `direction`: the shared setting, then the overrides. */
export const linkConfigOf = (config: NetworkConfig, rank: number, direction: Direction): ReadonlyArray<LinkConfig> => [
  ...(config[direction] === undefined ? [] : [config[direction]]),
  ...(config.links ?? [])
    .filter((link) => link.rank === rank && (link.direction === undefined || link.direction === direction))
    .map((link) => link.config)
]

/** Whether the link changes nothing: no delay, no loss, no duplication, no reordering. */
export const isQuietConfig = (config: ResolvedLinkConfig): boolean =>
  minimumDelayMs(config.delayMs) === 0 && maximumDelayMs(config.delayMs) === 0 &&
  config.dropProbability === 0 && config.duplicateProbability === 0 && config.reorderProbability === 0

/** The shortest delay the distribution can draw: how soon the platform can report an exit. */
export const minimumDelayMs = (delay: DelayDistribution): number => {
  switch (delay.kind) {
    case "fixed": return delay.ms
    case "uniform": return delay.minMs
    case "exponential": return 0
  }
}

const maximumDelayMs = (delay: DelayDistribution): number => delay.kind === "fixed" ? delay.ms : delay.maxMs

/** One delay drawn from the distribution; a fixed delay draws nothing. */
export const sampleDelayMs = (delay: DelayDistribution, random: Prng): number => {
  switch (delay.kind) {
    case "fixed": return delay.ms
    case "uniform": return delay.minMs + random.nextFloat() * (delay.maxMs - delay.minMs)
    case "exponential": return Math.min(delay.maxMs, -delay.meanMs * Math.log(1 - random.nextFloat()))
  }
}

/** One copy of a message as the network will deliver it. */
export interface Copy {
  readonly deliverAtMs: number
  /** False for a reordered copy: it leaves the stream's order and later copies may overtake it. */
  readonly inOrder: boolean
}

/** What the network does to one message: its copies (none when dropped) and what it did. */
export interface Transmission {
  readonly copies: ReadonlyArray<Copy>
  readonly dropped: boolean
  readonly duplicated: boolean
  readonly reorderedCopies: number
}

/**
 * Plans one message sent at `nowMs` on a link whose last in-order copy arrives at
 * `lastInOrderAtMs`. The draws come in a fixed order (drop, duplicate, then per copy delay and
 * reorder), and a probability of 0 or 1 draws nothing, so a configuration replays exactly.
 */
export const planTransmission = (
  config: ResolvedLinkConfig,
  random: Prng,
  nowMs: number,
  lastInOrderAtMs: number
): Transmission => {
  if (draw(config.dropProbability, random)) return { copies: [], dropped: true, duplicated: false, reorderedCopies: 0 }
  const duplicated = draw(config.duplicateProbability, random)
  const copies: Array<Copy> = []
  let lastAtMs = lastInOrderAtMs
  for (let copy = 0; copy < (duplicated ? 2 : 1); copy++) {
    const sentAtMs = nowMs + sampleDelayMs(config.delayMs, random)
    if (draw(config.reorderProbability, random)) {
      copies.push({ deliverAtMs: sentAtMs + random.nextFloat() * config.reorderDelayMsMax, inOrder: false })
    } else {
      lastAtMs = Math.max(sentAtMs, lastAtMs)
      copies.push({ deliverAtMs: lastAtMs, inOrder: true })
    }
  }
  assert(copies.every((copy) => copy.deliverAtMs >= nowMs), "no copy arrives before it was sent")
  return { copies, dropped: false, duplicated, reorderedCopies: copies.filter((copy) => !copy.inOrder).length }
}

const draw = (probability: number, random: Prng): boolean =>
  probability >= 1 ? true : probability <= 0 ? false : random.chance(probability)

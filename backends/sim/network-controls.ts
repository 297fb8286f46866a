/**
 * The run-time controls of the simulated network: reconfigure links, clog and unclog them
 * (partitions), swizzle, and heal.
 *
 * `swizzle` is FoundationDB's partition pattern: clog a random subset of links one by one, then
 * unclog them in a different random order, with small random gaps between steps. Clogging links
 * in sequence, not all at once, produces the partial and asymmetric partitions where ordering
 * bugs live, and the gaps spread it over virtual time so calls in flight meet every step. Its
 * choices draw from the `network` stream, so a seed replays the same swizzle.
 */
import { Duration, Effect } from "effect"
import { assert } from "../../core/assert.ts"
import type { Prng } from "../../core/random.ts"
import type { TransportEvent, WaveMessage } from "../../core/transport.ts"
import { clog, type Link, type LinkEnv, unclog } from "./links.ts"
import {
  checkNetworkConfig, type Direction, type InvalidNetworkConfig, linkConfigOf, mergeLinkConfig,
  type NetworkConfig, type ResolvedLinkConfig
} from "./network.ts"

/** The two links of one rank. */
export interface RankLinks {
  readonly requestLink: Link<WaveMessage>
  readonly replyLink: Link<TransportEvent>
}

/** One link as the test author sees it. */
export interface LinkState {
  readonly rank: number
  readonly direction: Direction
  readonly clogged: boolean
  /** Messages on their way (held ones included). */
  readonly inFlight: number
  readonly config: ResolvedLinkConfig
}

export interface SwizzleOptions {
  /** The longest gap between two steps, in virtual milliseconds; default 10. */
  readonly gapMsMax?: number | undefined
}

export interface NetworkControls {
  /** Applies `config` over the current settings: the fields it names change, the rest stay. */
  readonly configure: (config: NetworkConfig) => Effect.Effect<void, InvalidNetworkConfig>
  /** Holds the messages of `rank`'s link in `direction` (both when absent) until `unclog`. */
  readonly clog: (rank: number, direction?: Direction | undefined) => Effect.Effect<void>
  /** Releases both links of `rank`; held messages go out in order. */
  readonly unclog: (rank: number) => Effect.Effect<void>
  /** Clogs a random subset of ranks one by one, then unclogs them in random order, over virtual time. */
  readonly swizzle: (options?: SwizzleOptions) => Effect.Effect<void>
  /** Unclogs every link and sets every probability to 0; delays stay. */
  readonly heal: () => Effect.Effect<void>
  /** Every link, by rank, request before reply. */
  readonly links: () => Effect.Effect<ReadonlyArray<LinkState>>
}

const swizzleDefaults = { gapMsMax: 10 } as const

export const makeNetworkControls = (env: LinkEnv, ranks: ReadonlyArray<RankLinks>): NetworkControls => {
  const linksOf = (rank: number): ReadonlyArray<Link<unknown>> => {
    assert(Number.isInteger(rank) && rank >= 0 && rank < ranks.length, () => `rank ${rank} lies within the world`)
    return [ranks[rank].requestLink, ranks[rank].replyLink]
  }
  const unclogRank = (rank: number) => Effect.forEach(linksOf(rank), (link) => unclog(env, link), { discard: true })

  const configure = (config: NetworkConfig) =>
    Effect.suspend(() => {
      const invalid = checkNetworkConfig(config, ranks.length)
      if (invalid !== undefined) return Effect.fail(invalid)
      for (const link of ranks.flatMap((_, rank) => linksOf(rank))) {
        link.config = linkConfigOf(config, link.rank, link.direction).reduce(mergeLinkConfig, link.config)
      }
      return Effect.void
    })

  const clogRank = (rank: number, direction?: Direction) =>
    Effect.sync(() => {
      for (const link of linksOf(rank)) if (direction === undefined || link.direction === direction) clog(link)
    })

  const swizzle = (options: SwizzleOptions = {}) =>
    Effect.suspend(() => {
      const gapMsMax = options.gapMsMax ?? swizzleDefaults.gapMsMax
      assert(Number.isFinite(gapMsMax) && gapMsMax >= 0, "a swizzle gap is a finite number of at least 0 ms")
      const plan = planSwizzle(env.random, ranks.length, gapMsMax)
      const pause = (step: number) => Effect.sleep(Duration.millis(plan.gapsMs[step]))
      const steps = Effect.gen(function* () {
        for (const [step, rank] of plan.clogOrder.entries()) {
          yield* clogRank(rank)
          yield* pause(step)
        }
        for (const [step, rank] of plan.unclogOrder.entries()) {
          if (step > 0) yield* pause(plan.clogOrder.length + step - 1)
          yield* unclogRank(rank)
        }
      })
      // Interrupted midway, a swizzle still leaves no link of its own clogged.
      return Effect.ensuring(steps, Effect.forEach(plan.clogOrder, unclogRank, { discard: true }))
    })

  const heal = () =>
    Effect.forEach(ranks.map((_, rank) => rank), (rank) =>
      Effect.andThen(Effect.sync(() => {
        for (const link of linksOf(rank)) {
          link.config = { ...link.config, dropProbability: 0, duplicateProbability: 0, reorderProbability: 0 }
        }
      }), unclogRank(rank)), { discard: true })

  const links = () =>
    Effect.sync(() =>
      ranks.flatMap((_, rank) => linksOf(rank)).map((link): LinkState => ({
        rank: link.rank, direction: link.direction, clogged: link.clogged, inFlight: link.pending.length, config: link.config
      })))

  return { configure, clog: clogRank, unclog: unclogRank, swizzle, heal, links }
}

/** A swizzle's choices: which ranks, in which orders, and the gaps between its steps. */
interface SwizzlePlan {
  readonly clogOrder: ReadonlyArray<number>
  readonly unclogOrder: ReadonlyArray<number>
  /** One gap after each clog, and one between consecutive unclogs. */
  readonly gapsMs: ReadonlyArray<number>
}

/** Draws a plan: each rank joins with probability 1/2, and at least one always does. */
const planSwizzle = (random: Prng, worldSize: number, gapMsMax: number): SwizzlePlan => {
  const chosen = Array.from({ length: worldSize }, (_, rank) => rank).filter(() => random.chance(0.5))
  const subset = chosen.length > 0 ? chosen : [random.nextInt(worldSize)]
  const clogOrder = shuffle(random, subset)
  const unclogOrder = shuffle(random, subset)
  const gapsMs = Array.from({ length: 2 * subset.length - 1 }, () => random.nextFloat() * gapMsMax)
  return { clogOrder, unclogOrder, gapsMs }
}

/** Fisher-Yates over a copy. */
const shuffle = <A>(random: Prng, items: ReadonlyArray<A>): ReadonlyArray<A> => {
  const shuffled = [...items]
  for (let index = shuffled.length - 1; index > 0; index--) {
    const other = random.nextInt(index + 1)
    const swap = shuffled[index]
    shuffled[index] = shuffled[other]
    shuffled[other] = swap
  }
  return shuffled
}

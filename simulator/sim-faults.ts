/**
 * Puts a seed's swarm into the simulated cluster: rank fault rules, the network's links, and a
 * chaos fiber that clogs links and swizzles the network at the intervals the swarm chose.
 *
 * Clogs are held for a random while and then released; nothing clogged stays clogged past the
 * safety phase, because the liveness phase heals the network before it waits.
 */
import { Effect } from "effect"
import type { Prng } from "../core/random.ts"
import type { SimFaultHandle } from "../backends/sim/cluster.ts"
import type { FaultRule } from "../backends/sim/faults.ts"
import type { NetworkConfig } from "../backends/sim/network.ts"
import type { SwarmNetwork, SwarmRule } from "./swarm.ts"

export const ruleOf = (rule: SwarmRule): FaultRule => ({
  kind: rule.kind,
  method: rule.method,
  ranks: rule.ranks,
  probability: rule.probability,
  ...(rule.delayMs !== undefined ? { delayMs: rule.delayMs } : {})
})

export const networkConfigOf = (network: SwarmNetwork): NetworkConfig => {
  const link = (delayMs: SwarmNetwork["requestDelayMs"]) => ({
    delayMs,
    dropProbability: network.dropProbability,
    duplicateProbability: network.duplicateProbability,
    reorderProbability: network.reorderProbability
  })
  return { request: link(network.requestDelayMs), reply: link(network.replyDelayMs) }
}

/** How long one clog holds its link, at most. */
const clogHoldMsMax = 500

/**
 * Runs until interrupted: every `clogEveryMs` it clogs a random rank's link for a random while,
 * and every `swizzleEveryMs` it swizzles the network. Both intervals 0 means nothing to do.
 */
export const startNetworkChaos = (handle: SimFaultHandle, network: SwarmNetwork, prng: Prng, worldSize: number): Effect.Effect<void> => {
  const clogs = network.clogEveryMs > 0 ? Effect.forever(clogOnce(handle, network.clogEveryMs, prng, worldSize)) : Effect.void
  const swizzles = network.swizzleEveryMs > 0
    ? Effect.forever(Effect.andThen(Effect.sleep(network.swizzleEveryMs), handle.swizzle()))
    : Effect.void
  return Effect.asVoid(Effect.all([clogs, swizzles], { concurrency: "unbounded" }))
}

const clogOnce = (handle: SimFaultHandle, everyMs: number, prng: Prng, worldSize: number) =>
  Effect.gen(function* () {
    yield* Effect.sleep(1 + prng.nextInt(2 * everyMs))
    const rank = prng.nextInt(worldSize)
    const direction = prng.pick(["request", "reply", undefined] as const)
    yield* handle.clog(rank, direction)
    yield* Effect.sleep(1 + prng.nextInt(clogHoldMsMax))
    yield* handle.unclog(rank)
  })

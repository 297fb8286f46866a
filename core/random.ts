/**
 * Seeded randomness with named, independent streams.
 *
 * One run seed gives one stream per concern (workload, faults, network, scheduling), each derived
 * from the seed and the stream's name, so drawing more numbers in one area never perturbs
 * another: a change to the fault mix keeps the same workload. The generator is sfc32 over 32-bit
 * integer arithmetic (`Math.imul`, `>>>`), so a seed gives the same sequence on Node, Bun and
 * Deno. Code in `core/` gets randomness only from the `Randomness` service.
 */
import { Context, Layer } from "effect"
import { assert } from "./assert.ts"

/** A deterministic pseudo-random number generator. Mutable: each draw advances it. */
export interface Prng {
  /** A uniformly distributed unsigned 32-bit integer. */
  readonly nextUint32: () => number
  /** A float in [0, 1) with 32 bits of randomness. */
  readonly nextFloat: () => number
  /** An integer in [0, maxExclusive). */
  readonly nextInt: (maxExclusive: number) => number
  /** True with probability `probability`. */
  readonly chance: (probability: number) => boolean
  /** One element of a non-empty array. */
  readonly pick: <A>(items: ReadonlyArray<A>) => A
}

/** FNV-1a over the name's UTF-16 code units, then mixed with the seed (murmur3's finalizer). */
export const hashName = (seed: number, name: string): number => {
  let hash = 0x811c9dc5 ^ (seed >>> 0)
  for (let index = 0; index < name.length; index++) {
    hash ^= name.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  return mix32(hash)
}

const mix32 = (value: number): number => {
  let x = value >>> 0
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x >>> 0
}

/** sfc32 seeded through splitmix-style mixing; a few warm-up rounds decorrelate close seeds. */
export const makePrng = (seed: number): Prng => {
  assert(Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff, "a PRNG seed is an unsigned 32-bit integer")
  let a = mix32(seed ^ 0x9e3779b9)
  let b = mix32(a ^ 0x243f6a88)
  let c = mix32(b ^ 0xb7e15162)
  let d = 1
  const nextUint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let round = 0; round < 12; round++) nextUint32()
  const nextFloat = () => nextUint32() / 0x1_0000_0000
  const nextInt = (maxExclusive: number) => {
    assert(Number.isInteger(maxExclusive) && maxExclusive > 0, "nextInt takes a positive integer bound")
    return Math.floor(nextFloat() * maxExclusive)
  }
  const chance = (probability: number) => nextFloat() < probability
  const pick = <A>(items: ReadonlyArray<A>): A => {
    assert(items.length > 0, "pick takes a non-empty array")
    return items[nextInt(items.length)]
  }
  return { nextUint32, nextFloat, nextInt, chance, pick }
}

/** The stream of `name` under `seed`: the same pair always gives the same sequence. */
export const makeStream = (seed: number, name: string): Prng => makePrng(hashName(seed, name))

export interface RandomnessShape {
  readonly seed: number
  /** The named stream; repeated calls with one name return the same (shared, advancing) stream. */
  readonly stream: (name: string) => Prng
}

/** The Randomness service: the only source of randomness for `core/`. */
export class Randomness extends Context.Service<Randomness, RandomnessShape>()("rankwise/Randomness") {}

export const makeRandomness = (seed: number): RandomnessShape => {
  assert(Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff, "a run seed is an unsigned 32-bit integer")
  const streams = new Map<string, Prng>()
  const stream = (name: string): Prng => {
    let prng = streams.get(name)
    if (prng === undefined) {
      prng = makeStream(seed, name)
      streams.set(name, prng)
    }
    return prng
  }
  return Randomness.of({ seed: seed >>> 0, stream })
}

/** A Randomness layer for one run seed. */
export const layerRandomness = (seed: number) => Layer.sync(Randomness, () => makeRandomness(seed))

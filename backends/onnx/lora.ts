/**
 * LoRA adapters as data: low-rank pairs per named weight, how they bind to the model, and the
 * weight patch they make.
 *
 * An adapter holds, for each target weight viewed as a matrix W [out, in] (weights.ts explains
 * the view), a pair A [rank, in] and B [out, rank], plus the adapter's own `scale` (alpha / rank
 * in PEFT terms). Applied at a request's scale s it gives W' = W + s * scale * B A.
 *
 * Patching never touches the base weights: `patchWeights` returns a new set whose patched
 * tensors are fresh arrays and whose other tensors are the base ones, shared. Removing an
 * adapter therefore restores the base model exactly, bit for bit, because the base was never
 * changed; subtracting the delta back would leave float rounding behind.
 */
import { Result } from "effect"
import { assert } from "../../core/assert.ts"
import { LoraInvalid } from "../../core/errors.ts"
import { makeStream } from "../../core/random.ts"
import { normals } from "./gaussian.ts"
import type { FloatTensor } from "./graph.ts"
import type { WeightSet } from "./weights.ts"

/** One target weight's low-rank pair. */
export interface LoraPair {
  readonly target: string
  /** [rank, in] */
  readonly a: FloatTensor
  /** [out, rank] */
  readonly b: FloatTensor
}

export interface LoraWeights {
  readonly rank: number
  readonly scale: number
  readonly pairs: ReadonlyArray<LoraPair>
}

/** A weight an adapter may target, as a matrix. */
export interface LoraTarget {
  readonly name: string
  readonly rows: number
  readonly columns: number
}

/**
 * A random adapter for `targets` (their names and matrix shapes, as the model manifest lists
 * them). Use to make adapters for tests and demos; the seed fixes every number.
 */
export const createLora = (options: {
  readonly seed: number
  readonly rank: number
  readonly targets: ReadonlyArray<LoraTarget>
  readonly scale: number
}): LoraWeights => {
  assert(Number.isInteger(options.rank) && options.rank >= 1, "a LoRA rank is a positive integer")
  const pairs = options.targets.map((target) => ({
    target: target.name,
    a: { dims: [options.rank, target.columns], data: normals(makeStream(options.seed, `lora:${target.name}:a`), options.rank * target.columns, 1 / Math.sqrt(target.columns)) },
    b: { dims: [target.rows, options.rank], data: normals(makeStream(options.seed, `lora:${target.name}:b`), target.rows * options.rank, 1 / Math.sqrt(options.rank)) }
  }))
  return { rank: options.rank, scale: options.scale, pairs }
}

/**
 * Checks that every pair binds a weight of the model with the right shape; answers how many
 * layers it binds. An adapter naming a layer the model lacks is refused whole, not half
 * applied: upstream "loaded" adapters that bound nothing, and they silently changed nothing.
 */
export const bindLora = (adapterId: number, lora: LoraWeights, targets: ReadonlyArray<LoraTarget>): Result.Result<number, LoraInvalid> => {
  const invalid = (reason: string) => Result.fail(new LoraInvalid({ adapterId, reason }))
  const byName = new Map(targets.map((target) => [target.name, target]))
  const unknown = lora.pairs.filter((pair) => !byName.has(pair.target)).map((pair) => pair.target)
  if (unknown.length === lora.pairs.length) {
    return invalid(`binds no layer of this model (it targets ${unknown.join(", ") || "nothing"}; the model has ${targets.map((t) => t.name).join(", ")})`)
  }
  if (unknown.length > 0) return invalid(`targets ${unknown.join(", ")}, which this model does not have`)
  const seen = new Set<string>()
  for (const pair of lora.pairs) {
    if (seen.has(pair.target)) return invalid(`targets ${pair.target} twice`)
    seen.add(pair.target)
    const target = byName.get(pair.target)!
    const expectedA = `${lora.rank}x${target.columns}`
    const expectedB = `${target.rows}x${lora.rank}`
    if (pair.a.dims.join("x") !== expectedA) return invalid(`A of ${pair.target} is ${pair.a.dims.join("x")}, expected ${expectedA}`)
    if (pair.b.dims.join("x") !== expectedB) return invalid(`B of ${pair.target} is ${pair.b.dims.join("x")}, expected ${expectedB}`)
  }
  return Result.succeed(lora.pairs.length)
}

/** W + factor * B A for one pair, into a fresh array shaped like W. Float64 sums, float32 result. */
const patchOne = (weight: FloatTensor, pair: LoraPair, factor: number): FloatTensor => {
  const [rows, rank] = pair.b.dims
  const columns = pair.a.dims[1]
  assert(rows * columns === weight.data.length, "the pair's product is shaped like the weight")
  const data = new Float32Array(weight.data.length)
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      let delta = 0
      for (let k = 0; k < rank; k++) delta += pair.b.data[row * rank + k] * pair.a.data[k * columns + column]
      data[row * columns + column] = weight.data[row * columns + column] + factor * delta
    }
  }
  return { dims: weight.dims, data }
}

/** The weights with `lora` applied at `requestScale`; `base` is left untouched. Bind first. */
export const patchWeights = (base: WeightSet, lora: LoraWeights, requestScale: number): WeightSet => {
  const patched = new Map(base)
  for (const pair of lora.pairs) {
    const weight = base.get(pair.target)
    assert(weight !== undefined, "a bound pair names a weight of the model")
    patched.set(pair.target, patchOne(weight, pair, requestScale * lora.scale))
  }
  return patched
}

/** Bytes of an adapter's float32 data. */
export const loraBytes = (lora: LoraWeights): number =>
  lora.pairs.reduce((total, pair) => total + pair.a.data.byteLength + pair.b.data.byteLength, 0)

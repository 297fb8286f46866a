/**
 * Normally distributed numbers from a seeded stream (Box-Muller over core/random.ts).
 *
 * Weights and initial noise both come from here, so one seed gives one model and one image. The
 * transform uses Math.log, Math.cos and Math.sin, which the language does not require to be
 * correctly rounded: V8 (Node, Deno) uses one implementation everywhere, and JavaScriptCore (Bun)
 * gave the same bits in our checks (the same 64x64 image hash on all three runtimes), but a
 * runtime with another libm could differ in the last bit. Within one runtime a seed is exact.
 */
import type { Prng } from "../../core/random.ts"

/** `count` draws from N(0, scale²), in pairs as Box-Muller produces them. */
export const normals = (prng: Prng, count: number, scale = 1): Float32Array => {
  const out = new Float32Array(count)
  for (let index = 0; index < count; index += 2) {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - prng.nextFloat())) * scale
    const angle = 2 * Math.PI * prng.nextFloat()
    out[index] = radius * Math.cos(angle)
    if (index + 1 < count) out[index + 1] = radius * Math.sin(angle)
  }
  return out
}

/**
 * Goal: the DDIM schedule visits strictly descending timesteps from 999 and ends at a clean
 * image, the update is exact on a known case, and guidance combines as uncond + g (cond - uncond).
 * Method: fast-check over step counts and arrays; hand-computed cases.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { combineGuidance, ddimStep, makeDdimSchedule } from "../../../backends/onnx/schedule.ts"

describe("makeDdimSchedule", () => {
  test.prop([fc.integer({ min: 1, max: 1000 })])("starts at 999, descends strictly, and ends with alpha-bar 1", (steps) => {
    const schedule = makeDdimSchedule(steps)
    expect(schedule.timesteps).toHaveLength(steps)
    expect(schedule.timesteps[0]).toBe(999)
    expect(schedule.timesteps.every((t) => t >= 0 && t < 1000)).toBe(true)
    expect(schedule.alphasNext[steps - 1]).toBe(1)
    expect(schedule.alphas.every((alpha, index) => index === 0 || alpha > schedule.alphas[index - 1])).toBe(true)
  })
})

describe("ddimStep", () => {
  it("with the true noise of a noised sample, lands exactly on the sample at the last step", () => {
    const schedule = makeDdimSchedule(1)
    const alpha = schedule.alphas[0]
    const clean = Float32Array.of(0.25, -0.5)
    const noise = Float32Array.of(1, -1)
    const noised = clean.map((value, index) => Math.sqrt(alpha) * value + Math.sqrt(1 - alpha) * noise[index])
    const stepped = ddimStep(schedule, 0, noised, noise)
    expect(Math.abs(stepped[0] - 0.25)).toBeLessThan(1e-5)
    expect(Math.abs(stepped[1] + 0.5)).toBeLessThan(1e-5)
  })
})

describe("combineGuidance", () => {
  const floats = fc.float32Array({ minLength: 4, maxLength: 4, noNaN: true, noDefaultInfinity: true, min: -10, max: 10 })
  test.prop([floats, floats])("scale 1 gives the conditional prediction, scale 0 the unconditional one", (cond, uncond) => {
    const one = combineGuidance(cond, uncond, 1)
    const zero = combineGuidance(cond, uncond, 0)
    for (let index = 0; index < 4; index++) {
      expect(Math.abs(one[index] - cond[index])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(cond[index])))
      expect(Object.is(zero[index] + 0, uncond[index] + 0)).toBe(true)
    }
  })

  it("extrapolates away from the unconditional prediction", () => {
    expect([...combineGuidance(Float32Array.of(2), Float32Array.of(1), 7.5)]).toEqual([8.5])
  })
})

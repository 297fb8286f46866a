/**
 * Goal: the simulated computation is deterministic and observable: equal inputs give equal
 * digests, the seed and the adapter change them, outputs are ordered prompt-major, and the legacy
 * dict has the upstream shape for each output type.
 * Method: fast-check properties over generated requests; the digest is a 32-bit hash, so "changes"
 * is checked over many cases where a collision is vanishingly unlikely.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect } from "vitest"
import type { Batch, BatchRequest } from "../../../core/worker.ts"
import { activationBytes, computeItems, itemDigest, legacyOutput } from "../../../backends/sim/compute.ts"

const requestArbitrary: fc.Arbitrary<BatchRequest> = fc.record({
  requestId: fc.constant("request"),
  prompt: fc.string({ maxLength: 20 }),
  negativePrompt: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
  height: fc.integer({ min: 1, max: 64 }),
  width: fc.integer({ min: 1, max: 64 }),
  frames: fc.constant(1),
  fps: fc.constant(0),
  steps: fc.integer({ min: 1, max: 50 }),
  guidanceScale: fc.double({ min: 0, max: 10, noNaN: true }),
  seed: fc.integer({ min: 0, max: 0xffff_ffff }),
  outputsPerPrompt: fc.integer({ min: 1, max: 4 }),
  outputType: fc.constant("image" as const),
  lora: fc.option(fc.record({ id: fc.integer({ min: 1, max: 9 }), name: fc.constant("style"), scale: fc.constant(1) }), { nil: undefined })
})

describe("simulated compute", () => {
  test.prop([requestArbitrary, fc.nat(3)])("the digest is a uint32 and a pure function of the request", (request, index) => {
    const digest = itemDigest(request, index)
    expect(Number.isInteger(digest) && digest >= 0 && digest <= 0xffff_ffff).toBe(true)
    expect(itemDigest({ ...request }, index)).toBe(digest)
  })

  test.prop([requestArbitrary, fc.integer({ min: 1, max: 1000 })])("the digest changes with the seed", (request, shift) => {
    const other = { ...request, seed: (request.seed + shift) % 0x1_0000_0000 }
    expect(itemDigest(other, 0)).not.toBe(itemDigest(request, 0))
  })

  test.prop([requestArbitrary, fc.integer({ min: 1, max: 9 })])("the digest changes with the adapter", (request, adapterId) => {
    const withAdapter = { ...request, lora: { id: adapterId, name: "style", scale: 1 } }
    const without = { ...request, lora: undefined }
    const otherAdapter = { ...request, lora: { id: adapterId + 1, name: "style", scale: 1 } }
    expect(itemDigest(withAdapter, 0)).not.toBe(itemDigest(without, 0))
    expect(itemDigest(withAdapter, 0)).not.toBe(itemDigest(otherAdapter, 0))
  })

  test.prop([fc.array(requestArbitrary, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 4 })])(
    "items are prompt-major: prompt i's k outputs sit at [i*k, (i+1)*k)",
    (requests, k) => {
      const batch: Batch = { batchId: 1, requests: requests.map((request) => ({ ...request, outputsPerPrompt: k })) }
      const items = computeItems(batch)
      expect(items.length).toBe(requests.length * k)
      batch.requests.forEach((request, promptIndex) => {
        for (let outputIndex = 0; outputIndex < k; outputIndex++) {
          expect(items[promptIndex * k + outputIndex].digest).toBe(itemDigest(request, outputIndex))
          expect(items[promptIndex * k + outputIndex].adapterId).toBe(request.lora?.id ?? null)
        }
      })
    })

  test.prop([fc.array(requestArbitrary, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 128 })])(
    "activation bytes are pixels x frames x outputs x factor, summed over requests",
    (requests, factor) => {
      const expected = requests.reduce((total, r) => total + r.height * r.width * r.frames * r.outputsPerPrompt * factor, 0)
      expect(activationBytes({ batchId: 1, requests }, factor)).toBe(expected)
    })

  test("the legacy dict has the upstream key for each output type", () => {
    const items = computeItems({ batchId: 1, requests: [] })
    expect(legacyOutput("image", 0, items)).toEqual({ image: [] })
    expect(legacyOutput("video", 24, items)).toEqual({ video: [], fps: 24 })
    expect(legacyOutput("latents", 0, items)).toEqual({ latents: [] })
  })
})

// Goal: request decoding accepts every valid request, fills the defaults, refuses every broken
// one with an InvalidRequest naming the exact field, never throws, and honours configurable
// limits; the compatibility key groups exactly the requests that may share a batch.
// Method: fast-check builds valid requests within the default limits, then corrupts exactly one
// field (wrong type or out of range) and checks the error names that field.
import { fc, test } from "@fast-check/vitest"
import { Result } from "effect"
import { describe, expect } from "vitest"
import {
  compatibilityKey,
  decodeRequest,
  defaultRequestLimits,
  type DiffusionRequest,
  type DiffusionRequestInput,
  outputTypes,
  requestDefaults
} from "../../core/request.ts"

const finite = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true })

/** A valid request input within the default limits; optional fields come and go. */
const validInput: fc.Arbitrary<DiffusionRequestInput> = fc.constantFrom(...outputTypes).chain((outputType) =>
  fc.record(
    {
      requestId: fc.string({ minLength: 1, maxLength: 40 }),
      prompt: fc.string({ maxLength: 60 }),
      negativePrompt: fc.string({ maxLength: 20 }),
      height: fc.integer({ min: 1, max: 2048 }),
      width: fc.integer({ min: 1, max: 2048 }),
      frames: outputType === "video" ? fc.integer({ min: 1, max: 256 }) : fc.constant(1),
      fps: finite(0, 120),
      steps: fc.integer({ min: 1, max: 1000 }),
      guidanceScale: finite(0, 20),
      seed: fc.integer({ min: 0, max: 0xffff_ffff }),
      outputsPerPrompt: fc.integer({ min: 1, max: 16 }),
      outputType: fc.constant(outputType),
      lora: fc.record(
        { id: fc.integer({ min: 1, max: 1_000_000 }), name: fc.string({ minLength: 1, maxLength: 12 }),
          path: fc.string({ minLength: 1, maxLength: 12 }), scale: finite(-4, 4) },
        { requiredKeys: ["id", "name"] }
      )
    },
    // A video request must say so: omitted, outputType defaults to image, where frames must be 1.
    { requiredKeys: outputType === "video" ? ["requestId", "prompt", "outputType"] : ["requestId", "prompt"] }
  )
)

const successOf = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`expected a success, got ${String(result.failure)}`)
  return result.success
}
const failureOf = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) throw new Error(`expected a failure, got ${JSON.stringify(result.success)}`)
  return result.failure
}

/** One wrong value per field: a wrong type, or a value out of its range or limit. */
const corruptions: ReadonlyArray<readonly [field: string, bad: fc.Arbitrary<unknown>]> = [
  ["requestId", fc.constantFrom(42, null, "", "x".repeat(257))],
  ["prompt", fc.constantFrom(7, null, ["a"], "p".repeat(defaultRequestLimits.promptCharsMax + 1))],
  ["negativePrompt", fc.constantFrom(false, 3, "n".repeat(defaultRequestLimits.promptCharsMax + 1))],
  ["height", fc.constantFrom(0, -512, 1.5, Number.NaN, "512", defaultRequestLimits.pixelsMax + 1)],
  ["width", fc.constantFrom(0, -1, 2.5, Infinity, "512")],
  ["frames", fc.constantFrom(0, -3, 1.5, "1", defaultRequestLimits.framesMax + 1)],
  ["fps", fc.oneof(fc.constantFrom(Number.NaN, Infinity, "24"), finite(-100, -0.001))],
  ["steps", fc.oneof(fc.constantFrom(0, 2.5, "50"), fc.integer({ min: defaultRequestLimits.stepsMax + 1, max: 100_000 }))],
  ["guidanceScale", fc.constantFrom(-1, Number.NaN, -Infinity, "7.5")],
  ["seed", fc.constantFrom(-1, 0x1_0000_0000, 0.5, "42")],
  ["outputsPerPrompt", fc.constantFrom(0, 1.5, defaultRequestLimits.outputsPerPromptMax + 1)],
  ["outputType", fc.constantFrom("audio", "", 1)],
  ["lora", fc.constantFrom("adapter", 3, null)],
  ["lora.id", fc.constantFrom(0, -1, 1.5, "1")],
  ["lora.name", fc.constantFrom("", 5, null)],
  ["lora.path", fc.constantFrom("", 9)],
  ["lora.scale", fc.constantFrom(Number.NaN, Infinity, "1")]
]

/** Sets `field` (possibly nested, "lora.scale") of a copy of `input` to `value`. */
const withField = (input: DiffusionRequestInput, field: string, value: unknown): Record<string, unknown> => {
  const [head, tail] = field.split(".")
  if (tail === undefined) return { ...input, [head]: value }
  const lora = input.lora ?? { id: 1, name: "adapter" }
  return { ...input, lora: { ...lora, [tail]: value } }
}

describe("decodeRequest", () => {
  test.prop([fc.oneof(fc.anything({ withNullPrototype: true, withMap: true, withBigInt: true, withDate: true }), fc.object())], { numRuns: 300 })(
    "never throws, and answers a request or an InvalidRequest naming a field",
    (input) => {
      const result = decodeRequest(input)
      if (Result.isFailure(result)) {
        expect(result.failure._tag).toBe("InvalidRequest")
        expect(result.failure.field.length).toBeGreaterThan(0)
      }
    }
  )

  test.prop([validInput])("accepts every valid request and fills each omitted field with its default", (input) => {
    const request = successOf(decodeRequest(input))
    for (const [field, fallback] of Object.entries(requestDefaults)) {
      const given = (input as Record<string, unknown>)[field]
      expect((request as unknown as Record<string, unknown>)[field]).toBe(given === undefined ? fallback : given)
    }
    expect(request.requestId).toBe(input.requestId)
    expect(request.prompt).toBe(input.prompt)
    expect(request.seed).toBe(input.seed)
    expect(request.negativePrompt).toBe(input.negativePrompt)
    if (input.lora === undefined) expect(request.lora).toBeUndefined()
    else expect(request.lora).toEqual({ ...input.lora, scale: input.lora.scale ?? 1 })
  })

  test.prop([validInput, fc.constantFrom(...corruptions).chain(([field, bad]) => bad.map((value) => ({ field, value })))])(
    "refuses a request with exactly one corrupted field, naming that field",
    (input, { field, value }) => {
      const failure = failureOf(decodeRequest(withField(input, field, value)))
      expect(failure._tag).toBe("InvalidRequest")
      expect(failure.field).toBe(field)
    }
  )

  test.prop([validInput, fc.constantFrom("num_steps", "seed ", "Prompt", "lora_scale")])(
    "refuses an unknown key rather than ignore it, naming the key",
    (input, key) => {
      expect(failureOf(decodeRequest({ ...input, [key]: 1 })).field).toBe(key)
    }
  )

  test.prop([validInput, fc.constantFrom("requestId", "prompt")])("refuses a request missing a required field, naming it", (input, field) => {
    const { [field]: _dropped, ...rest } = input
    expect(failureOf(decodeRequest(rest)).field).toBe(field)
  })

  test.prop([validInput, fc.integer({ min: 1, max: 8192 }), fc.integer({ min: 1, max: 8192 })])(
    "refuses more pixels than the default limit and accepts them when the limit is raised",
    (input, height, width) => {
      fc.pre(height * width > defaultRequestLimits.pixelsMax)
      const big = { ...input, height, width }
      expect(failureOf(decodeRequest(big)).field).toBe("height")
      const request = successOf(decodeRequest(big, { ...defaultRequestLimits, pixelsMax: height * width }))
      expect([request.height, request.width]).toEqual([height, width])
    }
  )

  test.prop([validInput, fc.integer({ min: 1, max: 999 })])(
    "applies a lowered steps limit: refuses steps above it and accepts steps at it",
    (input, stepsMax) => {
      const limits = { ...defaultRequestLimits, stepsMax }
      expect(failureOf(decodeRequest({ ...input, steps: stepsMax + 1 }, limits)).field).toBe("steps")
      expect(successOf(decodeRequest({ ...input, steps: stepsMax }, limits)).steps).toBe(stepsMax)
    }
  )
})

describe("compatibilityKey", () => {
  const decoded = validInput.map((input) => successOf(decodeRequest(input)))
  const keyOf = (request: DiffusionRequest) => compatibilityKey(request)

  test.prop([decoded, fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 40 }), fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined })])(
    "is equal for requests that differ only in prompt, requestId and seed",
    (request, requestId, prompt, seed) => {
      expect(keyOf({ ...request, requestId, prompt, seed })).toBe(keyOf(request))
    }
  )

  test.prop([decoded, fc.integer({ min: 1, max: 1_000_000 })])("differs when the LoRA adapter id differs", (request, id) => {
    const lora = request.lora ?? { id: id + 1, name: "adapter", scale: 1 }
    fc.pre(lora.id !== id)
    expect(keyOf({ ...request, lora: { ...lora, id } })).not.toBe(keyOf({ ...request, lora }))
  })

  test.prop([decoded, fc.integer({ min: 1, max: 1000 })])("differs when steps differ", (request, steps) => {
    fc.pre(steps !== request.steps)
    expect(keyOf({ ...request, steps })).not.toBe(keyOf(request))
  })

  test.prop([decoded, fc.constantFrom("height", "width", "frames"), fc.integer({ min: 1, max: 256 })])(
    "differs when the shape (height, width or frames) differs",
    (request, dimension, size) => {
      fc.pre(size !== request[dimension])
      expect(keyOf({ ...request, [dimension]: size })).not.toBe(keyOf(request))
    }
  )

  test.prop([decoded])("differs between a request with an adapter and one without", (request) => {
    const lora = request.lora ?? { id: 1, name: "adapter", scale: 1 }
    expect(keyOf({ ...request, lora })).not.toBe(keyOf({ ...request, lora: undefined }))
  })
})

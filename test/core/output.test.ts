// Goal: the output envelope keeps every legacy post-process dict's data and metadata exactly,
// refuses every broken contract with a typed OutputContractError naming the key, never throws,
// and splits multi-prompt batches without losing, reordering or re-scoping anything.
// Method: fast-check properties over arbitrary JSON-like values (robustness) and over generated
// valid legacy dicts, each corrupted in exactly one place (precision of the error's key).
import { fc, test } from "@fast-check/vitest"
import { Result } from "effect"
import { describe, expect } from "vitest"
import {
  fromLegacy,
  legacyKeys,
  makeEnvelope,
  makePayload,
  modalities,
  type Modality,
  type OutputEnvelope,
  splitPerPrompt,
  toLegacy
} from "../../core/output.ts"

const knownKeys = new Set<string>([...Object.values(legacyKeys), "fps", "audio_sample_rate", "sr"])

/** A valid legacy dict: some payload keys (at least one) of `batchSize` items, plus metadata. */
const legacyDict = (batchSize: fc.Arbitrary<number> = fc.integer({ min: 1, max: 6 })) =>
  batchSize.chain((size) =>
    fc.record({
      present: fc.subarray([...modalities], { minLength: 1 }),
      items: fc.array(fc.array(fc.jsonValue({ maxDepth: 1 }), { minLength: size, maxLength: size }), {
        minLength: modalities.length,
        maxLength: modalities.length
      }),
      fps: fc.option(fc.double({ min: Number.MIN_VALUE, max: 240, noNaN: true })),
      sampleRate: fc.option(fc.integer({ min: 1, max: 192_000 })),
      rateKeys: fc.constantFrom<ReadonlyArray<string>>(["audio_sample_rate"], ["sr"], ["audio_sample_rate", "sr"])
    }).map(({ present, items, fps, sampleRate, rateKeys }) => {
      const dict: Record<string, unknown> = {}
      present.forEach((modality, index) => (dict[legacyKeys[modality]] = items[index]))
      if (fps !== null) dict.fps = fps
      if (sampleRate !== null) for (const key of rateKeys) dict[key] = sampleRate
      return { dict, present }
    })
  )

const failureOf = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) throw new Error(`expected a failure, got ${JSON.stringify(result.success)}`)
  return result.failure
}
const successOf = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`expected a success, got ${String(result.failure)}`)
  return result.success
}
const itemsOf = (envelope: OutputEnvelope, modality: Modality) =>
  envelope.payload.find((payload) => payload._tag === modality)?.items

/** The structural promises every envelope keeps, whoever built it. */
const expectWellFormed = (envelope: OutputEnvelope) => {
  expect(envelope.payload.length).toBeGreaterThan(0)
  expect(envelope.primary).toBe(envelope.payload[0]._tag)
  const order = envelope.payload.map((payload) => modalities.indexOf(payload._tag))
  expect(order).toEqual([...order].sort((a, b) => a - b))
  expect(new Set(order).size).toBe(order.length)
  for (const payload of envelope.payload) expect(payload.items.length).toBe(envelope.batchSize)
}

describe("fromLegacy", () => {
  const anything = fc.anything({
    withNullPrototype: true, withMap: true, withSet: true, withDate: true, withBigInt: true,
    withTypedArray: true, withSparseArray: true, withBoxedValues: true, withObjectString: true
  })
  const dictLike = fc.dictionary(
    fc.oneof(fc.constantFrom(...knownKeys), fc.string()),
    fc.oneof(anything, fc.array(fc.integer(), { maxLength: 3 }), fc.double(), fc.integer())
  )

  test.prop([fc.oneof(anything, fc.object(), dictLike)], { numRuns: 500 })(
    "never throws, and answers a well-formed envelope or an OutputContractError",
    (input) => {
      const result = fromLegacy(input)
      if (Result.isSuccess(result)) expectWellFormed(result.success)
      else {
        expect(result.failure._tag).toBe("OutputContractError")
        expect(typeof result.failure.key).toBe("string")
      }
    }
  )

  test.prop([legacyDict()])("keeps every payload value by reference, and moves fps and sample rate to batch metadata", ({ dict, present }) => {
    const envelope = successOf(fromLegacy(dict))
    expectWellFormed(envelope)
    expect(envelope.payload.map((payload) => payload._tag)).toEqual(present)
    for (const modality of present) expect(itemsOf(envelope, modality)).toBe(dict[legacyKeys[modality]])
    expect(envelope.primary).toBe(present[0])
    expect(envelope.metadata.video).toEqual(dict.fps === undefined ? undefined : { scope: "batch", value: { fps: dict.fps } })
    const sampleRate = dict.audio_sample_rate ?? dict.sr
    expect(envelope.metadata.audio).toEqual(sampleRate === undefined ? undefined : { scope: "batch", value: { sampleRate } })
  })

  test.prop([legacyDict()])("round-trips through toLegacy, with sr normalised to audio_sample_rate", ({ dict }) => {
    const { sr, ...rest } = dict
    const expected = sr === undefined || "audio_sample_rate" in rest ? rest : { ...rest, audio_sample_rate: sr }
    expect(successOf(toLegacy(successOf(fromLegacy(dict))))).toEqual(expected)
  })

  test.prop([legacyDict(), fc.string().filter((key) => !knownKeys.has(key)), fc.jsonValue()])(
    "refuses an unknown key (a new modality or a typo) and names it",
    ({ dict }, key, value) => {
      expect(failureOf(fromLegacy({ ...dict, [key]: value }))).toMatchObject({ _tag: "OutputContractError", key })
    }
  )

  test("refuses 'images' rather than reading it as 'image'", () => {
    expect(failureOf(fromLegacy({ images: [1] })).key).toBe("images")
  })

  test.prop([legacyDict(), fc.nat(), fc.anything().filter((value) => !Array.isArray(value))])(
    "refuses a payload value that is not an array, naming its key",
    ({ dict, present }, pick, value) => {
      const key = legacyKeys[present[pick % present.length]]
      expect(failureOf(fromLegacy({ ...dict, [key]: value })).key).toBe(key)
    }
  )

  test.prop([legacyDict(fc.integer({ min: 1, max: 5 })).filter(({ present }) => present.length >= 2), fc.nat(), fc.integer({ min: 1, max: 4 })])(
    "refuses payloads of different item counts, naming the key that differs from the first",
    ({ dict, present }, pick, extra) => {
      const key = legacyKeys[present[1 + (pick % (present.length - 1))]]
      const longer = [...(dict[key] as Array<unknown>), ...Array.from({ length: extra }, () => 0)]
      expect(failureOf(fromLegacy({ ...dict, [key]: longer })).key).toBe(key)
    }
  )

  test.prop([legacyDict(), fc.oneof(fc.constantFrom(0, -1, Number.NaN, Infinity, -Infinity, "24", null), fc.double({ max: 0 }))])(
    "refuses an fps that is not a finite number > 0, naming fps",
    ({ dict }, fps) => {
      expect(failureOf(fromLegacy({ ...dict, fps })).key).toBe("fps")
    }
  )

  test.prop([
    legacyDict(),
    fc.constantFrom("audio_sample_rate", "sr"),
    fc.oneof(fc.constantFrom(0, -16000, 44100.5, Number.NaN, Infinity, "16000", null), fc.integer({ max: 0 }))
  ])("refuses a sample rate that is not a positive integer, naming the key it came in", ({ dict }, key, rate) => {
    const { audio_sample_rate: _rate, sr: _sr, ...rest } = dict
    expect(failureOf(fromLegacy({ ...rest, [key]: rate })).key).toBe(key)
  })

  test.prop([legacyDict(), fc.integer({ min: 1, max: 96_000 }), fc.integer({ min: 1, max: 96_000 })])(
    "refuses audio_sample_rate and sr that differ, naming sr",
    ({ dict }, rate, other) => {
      fc.pre(rate !== other)
      expect(failureOf(fromLegacy({ ...dict, audio_sample_rate: rate, sr: other })).key).toBe("sr")
    }
  )

  test.prop([fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.integer()), fc.constant(new Date(0)), fc.constant(new Map()))])(
    "refuses anything but a plain object, naming (output)",
    (input) => {
      expect(failureOf(fromLegacy(input)).key).toBe("(output)")
    }
  )

  test.prop([fc.record({ fps: fc.constant(24), sr: fc.constant(16000) }, { requiredKeys: [] })])(
    "refuses a dict without a payload key, naming (output)",
    (dict) => {
      expect(failureOf(fromLegacy(dict)).key).toBe("(output)")
    }
  )

  test("accepts a dict without a prototype", () => {
    const dict = Object.assign(Object.create(null), { audio: [[0.1]], sr: 8000 })
    expect(successOf(fromLegacy(dict)).metadata.audio).toEqual({ scope: "batch", value: { sampleRate: 8000 } })
  })
})

describe("splitPerPrompt", () => {
  const batchOf = (promptCount: number, outputsPerPrompt: number) =>
    legacyDict(fc.constant(promptCount * outputsPerPrompt)).map(({ dict }) => successOf(fromLegacy(dict)))
  const shaped = fc.record({ promptCount: fc.integer({ min: 1, max: 4 }), outputsPerPrompt: fc.integer({ min: 1, max: 4 }) })
    .chain(({ promptCount, outputsPerPrompt }) =>
      batchOf(promptCount, outputsPerPrompt).map((batch) => ({ batch, promptCount, outputsPerPrompt })))

  test.prop([shaped])("concatenating the splits gives back every payload's items in order", ({ batch, promptCount, outputsPerPrompt }) => {
    const splits = successOf(splitPerPrompt(batch, promptCount, outputsPerPrompt))
    expect(splits.length).toBe(promptCount)
    for (const split of splits) {
      expectWellFormed(split)
      expect(split.batchSize).toBe(outputsPerPrompt)
      expect(split.primary).toBe(batch.primary)
    }
    for (const payload of batch.payload) {
      const joined = splits.flatMap((split) => [...(itemsOf(split, payload._tag) ?? [])])
      expect(joined.length).toBe(payload.items.length)
      joined.forEach((item, index) => expect(item).toBe(payload.items[index]))
    }
  })

  test.prop([shaped])("keeps batch-scoped metadata on every split, still marked batch", ({ batch, promptCount, outputsPerPrompt }) => {
    for (const split of successOf(splitPerPrompt(batch, promptCount, outputsPerPrompt))) {
      expect(split.metadata.video).toEqual(batch.metadata.video)
      expect(split.metadata.audio).toEqual(batch.metadata.audio)
      if (split.metadata.video) expect(split.metadata.video.scope).toBe("batch")
      if (split.metadata.audio) expect(split.metadata.audio.scope).toBe("batch")
    }
  })

  test.prop([fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.array(fc.double({ min: 1, max: 60, noNaN: true }), { minLength: 16, maxLength: 16 })])(
    "slices per-output metadata with the items it belongs to",
    (promptCount, outputsPerPrompt, fpsPool) => {
      const size = promptCount * outputsPerPrompt
      const fps = fpsPool.slice(0, size).map((value) => ({ fps: value }))
      const batch = successOf(makeEnvelope({
        payload: [makePayload("video", fps.map((_, index) => `clip ${index}`))],
        metadata: { video: { scope: "perOutput", values: fps } }
      }))
      const splits = successOf(splitPerPrompt(batch, promptCount, outputsPerPrompt))
      splits.forEach((split, prompt) => {
        expect(split.metadata.video).toEqual({ scope: "perOutput", values: fps.slice(prompt * outputsPerPrompt, (prompt + 1) * outputsPerPrompt) })
      })
    }
  )

  test.prop([legacyDict(fc.integer({ min: 1, max: 12 })), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })])(
    "refuses a batch whose item count is not promptCount x outputsPerPrompt, naming the payload and counts",
    ({ dict }, promptCount, outputsPerPrompt) => {
      const batch = successOf(fromLegacy(dict))
      fc.pre(batch.batchSize !== promptCount * outputsPerPrompt)
      const failure = failureOf(splitPerPrompt(batch, promptCount, outputsPerPrompt))
      expect(failure.key).toBe(batch.primary)
      expect(failure.problem).toContain(`holds ${batch.batchSize} items`)
      expect(failure.problem).toContain(`= ${promptCount * outputsPerPrompt}`)
    }
  )

  test.prop([legacyDict(), fc.constantFrom("promptCount", "outputsPerPrompt"), fc.constantFrom(0, -1, 1.5, Number.NaN, Infinity)])(
    "refuses a promptCount or outputsPerPrompt that is not a positive integer, naming it",
    ({ dict }, which, bad) => {
      const batch = successOf(fromLegacy(dict))
      const result = which === "promptCount" ? splitPerPrompt(batch, bad, 1) : splitPerPrompt(batch, 1, bad)
      expect(failureOf(result).key).toBe(which)
    }
  )
})

describe("makeEnvelope", () => {
  test.prop([fc.shuffledSubarray([...modalities], { minLength: 1 }), fc.integer({ min: 1, max: 4 })])(
    "orders payloads by primary order whatever order they come in",
    (order, size) => {
      const envelope = successOf(makeEnvelope({ payload: order.map((modality) => makePayload(modality, Array(size).fill(modality))) }))
      expectWellFormed(envelope)
      expect(envelope.primary).toBe(modalities.find((modality) => order.includes(modality)))
    }
  )

  test("refuses a modality given twice, an empty payload list and per-output metadata of the wrong length", () => {
    expect(failureOf(makeEnvelope({ payload: [makePayload("text", ["a"]), makePayload("text", ["b"])] })).key).toBe("payload.text")
    expect(failureOf(makeEnvelope({ payload: [] })).key).toBe("payload")
    const perOutput = { audio: { scope: "perOutput" as const, values: [{ sampleRate: 8000 }] } }
    expect(failureOf(makeEnvelope({ payload: [makePayload("audio", [1, 2])], metadata: perOutput })).key).toBe("metadata.audio")
    const badRate = { audio: { scope: "batch" as const, value: { sampleRate: 0.5 } } }
    expect(failureOf(makeEnvelope({ payload: [makePayload("audio", [1])], metadata: badRate })).key).toBe("metadata.audio.sampleRate")
  })
})

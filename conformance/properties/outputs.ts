/**
 * OUT-1 and OUT-2: the output contract, as properties over generated outputs.
 *
 * Upstream's post-process dicts lost misspelt keys silently and copied batch metadata onto every
 * per-prompt output. These properties are pure (core/output.ts is the same on every backend), so
 * they use no cluster; they are still run and reported per backend, so a report covers the whole
 * contract. OUT-1: every valid legacy dict becomes the envelope it describes and round-trips;
 * every broken one is an `OutputContractError` naming the broken key; nothing ever throws.
 * OUT-2: splitting a batch gives each prompt its own slice of every payload and per-output group,
 * keeps batch metadata marked "batch", and refuses counts that do not add up.
 */
import { Result } from "effect"
import * as fc from "fast-check"
import { fromLegacy, legacyKeys, makeEnvelope, makePayload, type Modality, modalities, type OutputEnvelope, splitPerPrompt, toLegacy } from "../../core/output.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

const item = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.record({ digest: fc.nat() }))
const positiveFps = fc.double({ min: 0.5, max: 240, noNaN: true })
const sampleRate = fc.integer({ min: 1, max: 192_000 })

/** A valid legacy dict: a non-empty set of modalities, each with `batchSize` items, and optional metadata. */
const legacyDict = fc.record({
  present: fc.subarray([...modalities], { minLength: 1 }),
  batchSize: fc.integer({ min: 1, max: 4 }),
  fps: fc.option(positiveFps, { nil: undefined }),
  sampleRate: fc.option(sampleRate, { nil: undefined }),
  sampleRateKey: fc.constantFrom("audio_sample_rate", "sr", "both")
}).chain((shape) =>
  fc.tuple(...shape.present.map(() => fc.array(item, { minLength: shape.batchSize, maxLength: shape.batchSize }))).map((payloads) => {
    const dict: Record<string, unknown> = {}
    shape.present.forEach((modality, index) => { dict[legacyKeys[modality]] = payloads[index] })
    if (shape.fps !== undefined) dict.fps = shape.fps
    if (shape.sampleRate !== undefined && shape.sampleRateKey !== "sr") dict.audio_sample_rate = shape.sampleRate
    if (shape.sampleRate !== undefined && shape.sampleRateKey !== "audio_sample_rate") dict.sr = shape.sampleRate
    return { dict, shape }
  }))

type LegacyCase = typeof legacyDict extends fc.Arbitrary<infer A> ? A : never

const checkValidDict = ({ dict, shape }: LegacyCase) => {
  const converted = fromLegacy(dict)
  expectThat(Result.isSuccess(converted), `a valid legacy dict was refused: ${Result.isFailure(converted) ? converted.failure.message : ""}`)
  const envelope = converted.success
  const order = modalities.filter((modality) => shape.present.includes(modality))
  expectThat(JSON.stringify(envelope.payload.map((payload) => payload._tag)) === JSON.stringify(order), `payload order ${envelope.payload.map((p) => p._tag).join(",")}, expected ${order.join(",")}`)
  expectThat(envelope.primary === order[0] && envelope.batchSize === shape.batchSize, `primary ${envelope.primary} and batch size ${envelope.batchSize}, expected ${order[0]} and ${shape.batchSize}`)
  expectThat(envelope.payload.every((payload) => payload.items === dict[legacyKeys[payload._tag]]), "every payload holds exactly the dict's items")
  expectThat(envelope.metadata.video?.scope !== "perOutput" && envelope.metadata.video?.value.fps === shape.fps, `fps ${JSON.stringify(envelope.metadata.video)}, expected batch-scoped ${shape.fps}`)
  expectThat(envelope.metadata.audio?.scope !== "perOutput" && envelope.metadata.audio?.value.sampleRate === shape.sampleRate, `sample rate ${JSON.stringify(envelope.metadata.audio)}, expected batch-scoped ${shape.sampleRate}`)
  const back = toLegacy(envelope)
  const normalized: Record<string, unknown> = { ...dict, ...(shape.sampleRate !== undefined ? { audio_sample_rate: shape.sampleRate } : {}) }
  delete normalized.sr
  expectThat(Result.isSuccess(back) && JSON.stringify(sortKeys(back.success)) === JSON.stringify(sortKeys(normalized)), "toLegacy gives back the dict (sr as audio_sample_rate)")
}

const sortKeys = (dict: Readonly<Record<string, unknown>>) => Object.fromEntries(Object.entries(dict).sort(([a], [b]) => a.localeCompare(b)))

/** A way to break a valid dict, and the key the error must name. */
type Breakage = (dict: Record<string, unknown>, present: ReadonlyArray<Modality>) => readonly [dict: Record<string, unknown>, key: string] | undefined

const breakages: ReadonlyArray<readonly [string, Breakage]> = [
  ["unknown key", (dict) => [{ ...dict, images: [1] }, "images"]],
  ["payload not an array", (dict, present) => [{ ...dict, [legacyKeys[present[0]]]: "pixels" }, legacyKeys[present[0]]]],
  ["payload null", (dict, present) => [{ ...dict, [legacyKeys[present[0]]]: null }, legacyKeys[present[0]]]],
  ["fps zero", (dict) => [{ ...dict, fps: 0 }, "fps"]],
  ["fps not a number", (dict) => [{ ...dict, fps: "24" }, "fps"]],
  ["sample rate fractional", (dict) => [{ ...dict, sr: 44_100.5 }, "sr"]],
  ["sr disagrees", (dict) => [{ ...dict, audio_sample_rate: 44_100, sr: 48_000 }, "sr"]],
  ["no payload", (dict, present) => [Object.fromEntries(Object.entries(dict).filter(([key]) => !present.some((m) => legacyKeys[m] === key))), "(output)"]],
  ["item counts differ", (dict, present) => present.length < 2 ? undefined : [{ ...dict, [legacyKeys[present[1]]]: [...(dict[legacyKeys[present[1]]] as Array<unknown>), 0] }, legacyKeys[present[1]]]]
]

export const legacyShimIsExact: ConformanceProperty = {
  id: "OUT-1",
  statement: "fromLegacy turns every valid legacy dict into its envelope (round-tripping) and every broken one into an OutputContractError naming the key, never throwing",
  run: () =>
    fc.property(legacyDict, fc.constantFrom(...breakages), fc.anything(), (valid, [label, breakage], anything) => {
      checkValidDict(valid)
      const order = modalities.filter((modality) => valid.shape.present.includes(modality))
      const broken = breakage({ ...valid.dict }, order)
      if (broken !== undefined) {
        const result = fromLegacy(broken[0])
        expectThat(Result.isFailure(result) && result.failure._tag === "OutputContractError", `a dict with ${label} was accepted`)
        expectThat(result.failure.key === broken[1], `a dict with ${label} is refused at key ${result.failure.key}, expected ${broken[1]}`)
      }
      const any = fromLegacy(anything)
      expectThat(Result.isSuccess(any) || any.failure._tag === "OutputContractError", "fromLegacy answers a typed result for any value")
    })
}

const splitCase = fc.record({
  promptCount: fc.integer({ min: 1, max: 4 }),
  outputsPerPrompt: fc.integer({ min: 1, max: 3 }),
  present: fc.subarray([...modalities], { minLength: 1, maxLength: 3 }),
  videoScope: fc.constantFrom("none", "batch", "perOutput"),
  wrongCount: fc.integer({ min: 1, max: 3 })
})

const buildEnvelope = (testCase: typeof splitCase extends fc.Arbitrary<infer A> ? A : never): OutputEnvelope => {
  const total = testCase.promptCount * testCase.outputsPerPrompt
  const items = (modality: Modality) => Array.from({ length: total }, (_, index) => `${modality}-${index}`)
  const fps = Array.from({ length: total }, (_, index) => index + 1)
  const video = testCase.videoScope === "batch" ? { scope: "batch" as const, value: { fps: 24 } }
    : testCase.videoScope === "perOutput" ? { scope: "perOutput" as const, values: fps.map((value) => ({ fps: value })) } : undefined
  const built = makeEnvelope({ payload: testCase.present.map((modality) => makePayload(modality, items(modality))), metadata: { video } })
  expectThat(Result.isSuccess(built), "a generated envelope is valid")
  return built.success
}

export const perPromptSplitIsExact: ConformanceProperty = {
  id: "OUT-2",
  statement: "splitPerPrompt gives each prompt its own slice of every payload and per-output group, keeps batch metadata batch-scoped, and refuses counts that do not add up",
  run: () =>
    fc.property(splitCase, (testCase) => {
      const envelope = buildEnvelope(testCase)
      const { promptCount, outputsPerPrompt: k } = testCase
      const split = splitPerPrompt(envelope, promptCount, k)
      expectThat(Result.isSuccess(split) && split.success.length === promptCount, `a batch of ${promptCount} x ${k} must split into ${promptCount} outputs`)
      split.success.forEach((output, prompt) => {
        expectThat(output.batchSize === k && output.primary === envelope.primary, `prompt ${prompt}: batch size ${output.batchSize}, primary ${output.primary}`)
        for (const [index, payload] of output.payload.entries()) {
          const expected = envelope.payload[index].items.slice(prompt * k, (prompt + 1) * k)
          expectThat(JSON.stringify(payload.items) === JSON.stringify(expected), `prompt ${prompt} got ${payload._tag} items ${JSON.stringify(payload.items)}, expected ${JSON.stringify(expected)}`)
        }
        const video = output.metadata.video
        if (envelope.metadata.video?.scope === "batch") expectThat(video === envelope.metadata.video, `prompt ${prompt}: batch metadata must stay batch-scoped, got ${JSON.stringify(video)}`)
        if (envelope.metadata.video?.scope === "perOutput") {
          const expected = envelope.metadata.video.values.slice(prompt * k, (prompt + 1) * k)
          expectThat(video?.scope === "perOutput" && JSON.stringify(video.values) === JSON.stringify(expected), `prompt ${prompt}: per-output metadata ${JSON.stringify(video)}, expected ${JSON.stringify(expected)}`)
        }
      })
      const wrong = splitPerPrompt(envelope, promptCount + testCase.wrongCount, k)
      expectThat(Result.isFailure(wrong) && wrong.failure._tag === "OutputContractError", `a split into ${promptCount + testCase.wrongCount} prompts of a batch for ${promptCount} was accepted`)
    })
}

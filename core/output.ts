/**
 * The output envelope: what a model's post-processing hands back for one batch, typed.
 *
 * Upstream post-process functions returned loose dicts (`{video, audio, fps, sr, ...}`) that the
 * engine interpreted inline: a misspelt key vanished, and batch-scoped metadata (one `fps` for
 * the batch) was copied onto every per-prompt output as if each output had declared it. Here a
 * batch is an `OutputEnvelope`:
 *
 * - `payload`: one `Payload` per modality, at most one each, in the primary order video, image,
 *   text, audio, actions, latents, custom. Each holds `items`, one per output of the batch (batch
 *   dimension first); every payload holds the same number of items, `batchSize` (at least 1).
 * - `primary`: the first modality in that order, which is `payload[0]._tag`.
 * - `metadata`: validated groups `video {fps}` (finite, > 0), `audio {sampleRate}` (positive
 *   integer) and `common {...}`. Each group is `Scoped`: `{scope: "batch", value}` was declared
 *   once for the whole batch the outputs came from; `{scope: "perOutput", values}` holds one value
 *   per output, aligned with the payload items. `splitPerPrompt` slices per-output groups like the
 *   items and keeps batch groups as they are, still marked "batch", so a split output can tell a
 *   value declared for its batch from one declared for itself.
 *
 * Legacy dicts (`fromLegacy`): `video`, `image`, `text`, `audio`, `actions`, `latents` and
 * `custom_output` (becomes `custom`) are payload and must be arrays; `fps`, `audio_sample_rate`
 * and its alias `sr` become batch-scoped metadata. Decision on other keys: refused with an
 * `OutputContractError` naming the key, so a new modality or a typo (`images`) is never dropped
 * silently; a model that adds a modality adds it here. A key set to `null` is refused as well
 * (omit the key instead). Nothing here throws: every broken contract is a typed failure.
 */
import { Result } from "effect"
import { OutputContractError } from "./errors.ts"

/** Every modality, in the order that picks the primary one. */
export const modalities = ["video", "image", "text", "audio", "actions", "latents", "custom"] as const
export type Modality = (typeof modalities)[number]

/** One modality's data for a batch: `items[i]` belongs to output i. */
export type Payload = {
  readonly [M in Modality]: { readonly _tag: M; readonly items: ReadonlyArray<unknown> }
}[Modality]

/** Builds the payload of `modality`. */
export const makePayload = (modality: Modality, items: ReadonlyArray<unknown>): Payload =>
  ({ _tag: modality, items }) as Payload

/** A metadata group declared once for the batch, or once per output (aligned with the items). */
export type Scoped<G> =
  | { readonly scope: "batch"; readonly value: G }
  | { readonly scope: "perOutput"; readonly values: ReadonlyArray<G> }

export interface VideoMetadata { readonly fps: number }
export interface AudioMetadata { readonly sampleRate: number }
export type CommonMetadata = Readonly<Record<string, unknown>>

export interface OutputMetadata {
  readonly video?: Scoped<VideoMetadata> | undefined
  readonly audio?: Scoped<AudioMetadata> | undefined
  readonly common?: Scoped<CommonMetadata> | undefined
}

/** A validated batch of outputs. Build it with `makeEnvelope` or `fromLegacy`. */
export interface OutputEnvelope {
  readonly payload: ReadonlyArray<Payload>
  readonly primary: Modality
  readonly batchSize: number
  readonly metadata: OutputMetadata
}

/** The legacy dict key of each modality. */
export const legacyKeys: { readonly [M in Modality]: string } = {
  video: "video",
  image: "image",
  text: "text",
  audio: "audio",
  actions: "actions",
  latents: "latents",
  custom: "custom_output"
}
const legacyMetadataKeys = ["fps", "audio_sample_rate", "sr"] as const

type Checked<A> = Result.Result<A, OutputContractError>
const refuse = (key: string, problem: string): Checked<never> => Result.fail(new OutputContractError({ key, problem }))

/**
 * Validates a new-style envelope: at least one payload, each modality once, every payload an
 * array with the same non-zero item count, and valid metadata. Use it wherever a model builds
 * its output directly.
 */
export const makeEnvelope = (input: {
  readonly payload: ReadonlyArray<Payload>
  readonly metadata?: OutputMetadata | undefined
}): Checked<OutputEnvelope> => {
  const seen = new Set<string>()
  for (const payload of input.payload) {
    if (!modalities.includes(payload._tag)) return refuse("payload", `unknown modality '${String(payload._tag)}'`)
    if (seen.has(payload._tag)) return refuse(`payload.${payload._tag}`, "modality given twice")
    seen.add(payload._tag)
  }
  const ordered = [...input.payload].sort((a, b) => modalities.indexOf(a._tag) - modalities.indexOf(b._tag))
  const batchSize = checkBatch(ordered.map((payload) => ({ key: `payload.${payload._tag}`, items: payload.items })))
  if (Result.isFailure(batchSize)) return Result.fail(batchSize.failure)
  const metadata = input.metadata ?? {}
  const broken = checkMetadata(metadata, batchSize.success)
  return broken ? Result.fail(broken) : Result.succeed(assemble(ordered, batchSize.success, metadata))
}

/**
 * Converts a legacy post-process dict into an envelope, or names the key that broke the
 * contract. Never throws, whatever the input.
 */
export const fromLegacy = (dict: unknown): Checked<OutputEnvelope> => {
  if (!isPlainObject(dict)) return refuse("(output)", `a legacy output is a plain object, got ${describe(dict)}`)
  const known = new Set<string>([...Object.values(legacyKeys), ...legacyMetadataKeys])
  for (const key of Object.keys(dict)) {
    if (!known.has(key)) return refuse(key, `unknown key; expected one of ${[...known].join(", ")}`)
  }
  const present = modalities.filter((modality) => Object.hasOwn(dict, legacyKeys[modality]))
  if (present.length === 0) return refuse("(output)", "no payload key; a batch needs at least one modality")
  const batchSize = checkBatch(present.map((modality) => ({ key: legacyKeys[modality], items: dict[legacyKeys[modality]] })))
  if (Result.isFailure(batchSize)) return Result.fail(batchSize.failure)
  const metadata = legacyMetadata(dict)
  if (Result.isFailure(metadata)) return Result.fail(metadata.failure)
  const payload = present.map((modality) => makePayload(modality, dict[legacyKeys[modality]] as ReadonlyArray<unknown>))
  return Result.succeed(assemble(payload, batchSize.success, metadata.success))
}

/**
 * Splits a multi-prompt batch: prompt i gets items [i*k, (i+1)*k) of every payload, with
 * k = `outputsPerPrompt`. Per-output metadata is sliced the same way; batch-scoped metadata is
 * kept on each split and stays marked "batch".
 */
export const splitPerPrompt = (
  batch: OutputEnvelope,
  promptCount: number,
  outputsPerPrompt: number
): Checked<ReadonlyArray<OutputEnvelope>> => {
  if (!isPositiveInteger(promptCount)) return refuse("promptCount", `a positive integer, got ${describe(promptCount)}`)
  if (!isPositiveInteger(outputsPerPrompt)) {
    return refuse("outputsPerPrompt", `a positive integer, got ${describe(outputsPerPrompt)}`)
  }
  const expected = promptCount * outputsPerPrompt
  for (const payload of batch.payload) {
    if (payload.items.length !== expected) {
      return refuse(payload._tag, countProblem(payload.items.length, promptCount, outputsPerPrompt))
    }
  }
  for (const group of ["video", "audio", "common"] as const) {
    const scoped = batch.metadata[group]
    if (scoped?.scope === "perOutput" && scoped.values.length !== expected) {
      return refuse(`metadata.${group}`, countProblem(scoped.values.length, promptCount, outputsPerPrompt))
    }
  }
  const splits: Array<OutputEnvelope> = []
  for (let prompt = 0; prompt < promptCount; prompt++) {
    const start = prompt * outputsPerPrompt
    const end = start + outputsPerPrompt
    splits.push({
      payload: batch.payload.map((payload) => makePayload(payload._tag, payload.items.slice(start, end))),
      primary: batch.primary,
      batchSize: outputsPerPrompt,
      metadata: {
        video: sliceScoped(batch.metadata.video, start, end),
        audio: sliceScoped(batch.metadata.audio, start, end),
        common: sliceScoped(batch.metadata.common, start, end)
      }
    })
  }
  return Result.succeed(splits)
}

/**
 * The legacy dict of an envelope, for shims and round-trip tests. Per-output and `common`
 * metadata have no legacy form, so they are refused rather than dropped.
 */
export const toLegacy = (envelope: OutputEnvelope): Checked<Readonly<Record<string, unknown>>> => {
  const dict: Record<string, unknown> = {}
  for (const payload of envelope.payload) dict[legacyKeys[payload._tag]] = payload.items
  const { video, audio, common } = envelope.metadata
  if (common !== undefined) return refuse("metadata.common", "common metadata has no legacy form")
  if (video?.scope === "perOutput") return refuse("metadata.video", "per-output metadata has no legacy form")
  if (audio?.scope === "perOutput") return refuse("metadata.audio", "per-output metadata has no legacy form")
  if (video !== undefined) dict.fps = video.value.fps
  if (audio !== undefined) dict.audio_sample_rate = audio.value.sampleRate
  return Result.succeed(dict)
}

// ---------------------------------------------------------------------------------------------
// Validation leaves: pure, each returns the first broken rule.
// ---------------------------------------------------------------------------------------------

/** Every entry an array, all of one non-zero length: that length is the batch size. */
const checkBatch = (entries: ReadonlyArray<{ readonly key: string; readonly items: unknown }>): Checked<number> => {
  let batchSize: number | undefined
  for (const { key, items } of entries) {
    if (!Array.isArray(items)) return refuse(key, `payload is an array with one item per output, got ${describe(items)}`)
    if (items.length === 0) return refuse(key, "payload holds no items; a batch has at least one output")
    if (batchSize === undefined) batchSize = items.length
    else if (items.length !== batchSize) {
      return refuse(key, `holds ${items.length} items, but the batch holds ${batchSize} (${entries[0].key})`)
    }
  }
  return batchSize === undefined ? refuse("payload", "no payload; a batch needs at least one modality") : Result.succeed(batchSize)
}

const legacyMetadata = (dict: Readonly<Record<string, unknown>>): Checked<OutputMetadata> => {
  const has = (key: string) => Object.hasOwn(dict, key)
  if (has("fps") && !isFps(dict.fps)) return refuse("fps", `a finite number > 0, got ${describe(dict.fps)}`)
  for (const key of ["audio_sample_rate", "sr"]) {
    if (has(key) && !isSampleRate(dict[key])) return refuse(key, `a positive integer, got ${describe(dict[key])}`)
  }
  if (has("audio_sample_rate") && has("sr") && dict.audio_sample_rate !== dict.sr) {
    return refuse("sr", `alias of audio_sample_rate, but ${describe(dict.sr)} differs from ${describe(dict.audio_sample_rate)}`)
  }
  const sampleRate = has("audio_sample_rate") ? dict.audio_sample_rate : dict.sr
  return Result.succeed({
    video: has("fps") ? { scope: "batch", value: { fps: dict.fps as number } } : undefined,
    audio: sampleRate !== undefined ? { scope: "batch", value: { sampleRate: sampleRate as number } } : undefined
  })
}

const checkMetadata = (metadata: OutputMetadata, batchSize: number): OutputContractError | undefined =>
  checkGroup("video", metadata.video, batchSize, (group) => isFps(group.fps) ? undefined : ["fps", "a finite number > 0"]) ??
  checkGroup("audio", metadata.audio, batchSize, (group) =>
    isSampleRate(group.sampleRate) ? undefined : ["sampleRate", "a positive integer"]) ??
  checkGroup("common", metadata.common, batchSize, (group) => isRecord(group) ? undefined : ["", "a record"])

/** One group: per-output values aligned with the batch, and each value valid (`check` names the field). */
const checkGroup = <G>(
  name: string,
  scoped: Scoped<G> | undefined,
  batchSize: number,
  check: (group: G) => readonly [field: string, rule: string] | undefined
): OutputContractError | undefined => {
  if (scoped === undefined) return undefined
  if (scoped.scope === "perOutput" && scoped.values.length !== batchSize) {
    return new OutputContractError({ key: `metadata.${name}`, problem: `${scoped.values.length} per-output values for ${batchSize} outputs` })
  }
  for (const group of scoped.scope === "batch" ? [scoped.value] : scoped.values) {
    const broken = isRecord(group) ? check(group) : ["", "a record"] as const
    if (broken) {
      const key = broken[0] === "" ? `metadata.${name}` : `metadata.${name}.${broken[0]}`
      return new OutputContractError({ key, problem: `must be ${broken[1]}` })
    }
  }
  return undefined
}

const assemble = (payload: ReadonlyArray<Payload>, batchSize: number, metadata: OutputMetadata): OutputEnvelope => ({
  payload,
  primary: payload[0]._tag,
  batchSize,
  metadata
})

const sliceScoped = <G>(scoped: Scoped<G> | undefined, start: number, end: number): Scoped<G> | undefined =>
  scoped?.scope === "perOutput" ? { scope: "perOutput", values: scoped.values.slice(start, end) } : scoped

const countProblem = (count: number, promptCount: number, outputsPerPrompt: number): string =>
  `holds ${count} items, expected promptCount ${promptCount} x outputsPerPrompt ${outputsPerPrompt} = ${promptCount * outputsPerPrompt}`

const isFps = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value) && value > 0
const isSampleRate = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0
const isPositiveInteger = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0
const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Plain objects only: a class instance, array, Date or Map is not a legacy dict. Checked by the
 * prototype chain's shape rather than `=== Object.prototype`, so a dict from another realm passes.
 */
const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> => {
  if (!isRecord(value)) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === null || Object.getPrototypeOf(prototype) === null
}

/** A short, never-throwing description of a value for error text. */
const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  if (typeof value === "string") return `a string`
  return typeof value === "object" ? "an object" : typeof value
}

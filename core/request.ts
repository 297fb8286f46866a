/**
 * A diffusion request: its schema, its validation, and its compatibility key.
 *
 * Input arrives as unknown JSON from users, files and the wire. It is decoded with Effect Schema
 * (types and fixed ranges), then checked against configurable limits *before* anything is
 * allocated: a 100k x 100k image must be refused here, not by an out-of-memory rank. Every
 * failure is a typed `InvalidRequest` naming the field and the rule; decoding never throws.
 */
import { Result, Schema, SchemaIssue } from "effect"
import { InvalidRequest } from "./errors.ts"

export const outputTypes = ["image", "video", "latents"] as const
export type OutputType = (typeof outputTypes)[number]

/** A LoRA adapter a request wants applied. Its identity is `id`; `scale` weights its effect. */
export interface LoraReference {
  readonly id: number
  readonly name: string
  readonly path?: string | undefined
  readonly scale: number
}

/** A decoded, validated request with every default filled in (except `seed`: see below). */
export interface DiffusionRequest {
  readonly requestId: string
  readonly prompt: string
  readonly negativePrompt?: string | undefined
  readonly height: number
  readonly width: number
  /** 1 for images. */
  readonly frames: number
  /** 0 when the output has no time axis. */
  readonly fps: number
  readonly steps: number
  /** Classifier-free guidance is on when > 1 and a negative prompt is given. */
  readonly guidanceScale: number
  /** Absent means "draw one": the engine draws it once so every rank derives the same noise. */
  readonly seed?: number | undefined
  readonly outputsPerPrompt: number
  readonly outputType: OutputType
  readonly lora?: LoraReference | undefined
}

/** Upper bounds enforced before allocation. Raise them in config for bigger models. */
export interface RequestLimits {
  readonly pixelsMax: number
  readonly framesMax: number
  readonly stepsMax: number
  readonly outputsPerPromptMax: number
  readonly promptCharsMax: number
}

export const defaultRequestLimits: RequestLimits = {
  pixelsMax: 2048 * 2048,
  framesMax: 256,
  stepsMax: 1000,
  outputsPerPromptMax: 16,
  promptCharsMax: 4096
}

/** Defaults of the upstream runtime, where it has one. */
export const requestDefaults = {
  height: 512,
  width: 512,
  frames: 1,
  fps: 0,
  steps: 50,
  guidanceScale: 1,
  outputsPerPrompt: 1,
  outputType: "image" as OutputType
}

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeFinite = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const Seed = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffff_ffff }))

const LoraReferenceInput = Schema.Struct({
  id: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  name: Schema.String.check(Schema.isNonEmpty()),
  path: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  scale: Schema.optionalKey(Schema.Finite)
})

/** The wire and file form of a request: optional fields may be omitted. */
export const DiffusionRequestInput = Schema.Struct({
  requestId: Schema.String.check(Schema.isNonEmpty(), Schema.isMaxLength(256)),
  prompt: Schema.String,
  negativePrompt: Schema.optionalKey(Schema.String),
  height: Schema.optionalKey(PositiveInt),
  width: Schema.optionalKey(PositiveInt),
  frames: Schema.optionalKey(PositiveInt),
  fps: Schema.optionalKey(NonNegativeFinite),
  steps: Schema.optionalKey(PositiveInt),
  guidanceScale: Schema.optionalKey(NonNegativeFinite),
  seed: Schema.optionalKey(Seed),
  outputsPerPrompt: Schema.optionalKey(PositiveInt),
  outputType: Schema.optionalKey(Schema.Literals(outputTypes)),
  lora: Schema.optionalKey(LoraReferenceInput)
})
export type DiffusionRequestInput = typeof DiffusionRequestInput.Type

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The first schema issue as an `InvalidRequest`: path joined with dots, message as the rule. */
const toInvalidRequest = (issue: SchemaIssue.Issue): InvalidRequest => {
  const [first] = formatter(issue).issues
  const field = first?.path?.map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")
  return new InvalidRequest({ field: field && field.length > 0 ? field : "(request)", rule: first?.message ?? "invalid" })
}

/** Fills defaults, then checks the configurable limits. */
const resolve = (input: DiffusionRequestInput, limits: RequestLimits): Result.Result<DiffusionRequest, InvalidRequest> => {
  const request: DiffusionRequest = {
    requestId: input.requestId,
    prompt: input.prompt,
    negativePrompt: input.negativePrompt,
    height: input.height ?? requestDefaults.height,
    width: input.width ?? requestDefaults.width,
    frames: input.frames ?? requestDefaults.frames,
    fps: input.fps ?? requestDefaults.fps,
    steps: input.steps ?? requestDefaults.steps,
    guidanceScale: input.guidanceScale ?? requestDefaults.guidanceScale,
    seed: input.seed,
    outputsPerPrompt: input.outputsPerPrompt ?? requestDefaults.outputsPerPrompt,
    outputType: input.outputType ?? requestDefaults.outputType,
    lora: input.lora && { ...input.lora, scale: input.lora.scale ?? 1 }
  }
  const broken = checkLimits(request, limits)
  return broken ? Result.fail(broken) : Result.succeed(request)
}

const checkLimits = (request: DiffusionRequest, limits: RequestLimits): InvalidRequest | undefined => {
  const fail = (field: string, rule: string) => new InvalidRequest({ field, rule })
  if (request.prompt.length > limits.promptCharsMax) {
    return fail("prompt", `at most ${limits.promptCharsMax} characters (got ${request.prompt.length})`)
  }
  if ((request.negativePrompt?.length ?? 0) > limits.promptCharsMax) {
    return fail("negativePrompt", `at most ${limits.promptCharsMax} characters`)
  }
  if (request.height * request.width > limits.pixelsMax) {
    return fail("height", `height x width at most ${limits.pixelsMax} pixels (got ${request.height * request.width})`)
  }
  if (request.frames > limits.framesMax) return fail("frames", `at most ${limits.framesMax}`)
  if (request.outputType !== "video" && request.frames !== 1) return fail("frames", `must be 1 for output type ${request.outputType}`)
  if (request.steps > limits.stepsMax) return fail("steps", `at most ${limits.stepsMax}`)
  if (request.outputsPerPrompt > limits.outputsPerPromptMax) {
    return fail("outputsPerPrompt", `at most ${limits.outputsPerPromptMax}`)
  }
  return undefined
}

/**
 * Decodes unknown input into a `DiffusionRequest`, or a typed `InvalidRequest` naming the field.
 * Never throws. Unknown keys are refused, so a typo (`num_steps`) is not silently ignored.
 */
export const decodeRequest = (
  input: unknown,
  limits: RequestLimits = defaultRequestLimits
): Result.Result<DiffusionRequest, InvalidRequest> => {
  const decoded = Schema.decodeUnknownResult(DiffusionRequestInput)(input, { onExcessProperty: "error" })
  return Result.isFailure(decoded) ? Result.fail(toInvalidRequest(decoded.failure.issue)) : resolve(decoded.success, limits)
}

/**
 * The compatibility key: requests share a batch only when their keys are equal. It covers shape,
 * guidance, steps, outputs per prompt, output type and LoRA identity (one adapter per batch).
 * Guidance counts as "on" only with a negative prompt, as upstream does.
 */
export const compatibilityKey = (request: DiffusionRequest): string => {
  const guidance = request.negativePrompt !== undefined && request.guidanceScale > 1 ? request.guidanceScale : 0
  const lora = request.lora ? `${request.lora.id}@${request.lora.scale}` : "none"
  return [
    `${request.height}x${request.width}x${request.frames}@${request.fps}`,
    `cfg=${guidance}`,
    `steps=${request.steps}`,
    `k=${request.outputsPerPrompt}`,
    request.outputType,
    `lora=${lora}`
  ].join("|")
}

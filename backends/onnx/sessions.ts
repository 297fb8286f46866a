/**
 * ONNX Runtime sessions: created from model bytes on the first execution provider that works.
 *
 * ONNX Runtime does not fall back between providers: `executionProviders: ["cuda", "cpu"]` throws
 * when CUDA cannot load instead of running on the CPU. So each provider is tried alone, in the
 * order given, and the first one on which every graph opens wins; the report says which one that
 * was and why each earlier one failed, so "it ran on cpu" is never a silent surprise.
 *
 * Sessions use `intraOpNumThreads: 1`: creation then costs a few milliseconds instead of tens
 * (TOOLCHAIN.md), which matters because LoRA and wake rebuild sessions, and the models are too
 * small to gain from more threads. Sessions hold native memory the garbage collector does not
 * see, so they are released explicitly (`releaseSessions`), never left to finalizers.
 *
 * ONNX Runtime is loaded on first use (`onnxRuntime`), through `require`, not a static import:
 * a bundler (the process backend bundles its rank program under Node) then leaves the native
 * package out, so a program that never opens a session (a simulated rank) never loads it, and
 * its bundle does not break on the package's `.node` binaries.
 */
import { createRequire } from "node:module"
import { Data, Effect } from "effect"
import type * as Ort from "onnxruntime-node"
import { assert } from "../../core/assert.ts"
import { decoderInput, decoderOutput } from "./decoder.ts"
import { denoiserInputs, denoiserOutput } from "./denoiser.ts"
import type { ModelGraphs } from "./model.ts"
import type { LatentShape, Pipeline } from "./pipeline.ts"
import { textEncoderInput, textEncoderOutput } from "./text-encoder.ts"

/** Tried in order; the first that opens every graph is used. */
export const defaultProviders: ReadonlyArray<string> = ["cuda", "cpu"]

export interface ProviderAttempt { readonly provider: string; readonly error: string }

/** Which provider the sessions run on, and why the ones before it were passed over. */
export interface ProviderReport {
  readonly provider: string
  readonly tried: ReadonlyArray<ProviderAttempt>
}

/** No provider in the list could open the model; `tried` holds every provider's error. */
export class NoProvider extends Data.TaggedError("NoProvider")<{ readonly tried: ReadonlyArray<ProviderAttempt> }> {
  override get message() {
    return `no execution provider could open the model (${this.tried.map((attempt) => `${attempt.provider}: ${attempt.error}`).join("; ")})`
  }
}

/** A session failed to open on a provider that worked before (a rebuild after LoRA or wake). */
export class SessionFailed extends Data.TaggedError("SessionFailed")<{ readonly provider: string; readonly reason: string }> {
  override get message() { return `session on ${this.provider} failed: ${this.reason}` }
}

export type Session = Ort.InferenceSession

let runtime: typeof Ort | undefined

/**
 * The onnxruntime-node module, loaded once per process on first use. It resolves from this
 * file's location; a bundled copy must therefore live where `node_modules` is found by walking up
 * (backends/process/onnx-launch.ts puts the rank bundle there). Throws when the package is missing.
 */
export const onnxRuntime = (): typeof Ort => (runtime ??= createRequire(import.meta.url)("onnxruntime-node") as typeof Ort)

/** The model's three sessions on one provider. */
export interface ModelSessions {
  readonly textEncoder: Session
  readonly denoiser: Session
  readonly decoder: Session
  readonly report: ProviderReport
}

const errorText = (error: unknown): string => error instanceof Error ? error.message : String(error)

/** One session on one provider. */
export const openSession = (bytes: Uint8Array, provider: string): Effect.Effect<Session, SessionFailed> =>
  Effect.tryPromise({
    try: () => onnxRuntime().InferenceSession.create(bytes, { executionProviders: [provider], intraOpNumThreads: 1, interOpNumThreads: 1 }),
    catch: (error) => new SessionFailed({ provider, reason: errorText(error) })
  })

/** Releases a session; a failing release is a defect (ORT only fails it on a double release, our bug). */
export const releaseSession = (session: Session): Effect.Effect<void> => Effect.promise(() => session.release())

export const releaseSessions = (sessions: ModelSessions): Effect.Effect<void> =>
  Effect.forEach([sessions.textEncoder, sessions.denoiser, sessions.decoder], releaseSession, { discard: true })

/** Opens every graph on `provider`, or releases what opened and fails. */
const openAllOn = (graphs: ModelGraphs, provider: string) => Effect.gen(function* () {
  const textEncoder = yield* openSession(graphs.textEncoder, provider)
  const denoiser = yield* openSession(graphs.denoiser, provider).pipe(Effect.tapError(() => releaseSession(textEncoder)))
  const decoder = yield* openSession(graphs.decoder, provider).pipe(
    Effect.tapError(() => Effect.andThen(releaseSession(textEncoder), releaseSession(denoiser))))
  return { textEncoder, denoiser, decoder }
})

/**
 * Sessions for the model on the first provider of `providers` that opens all three graphs.
 * Use at load and wake; a later rebuild of one graph uses `openSession` on the provider found.
 */
export const openSessions = (graphs: ModelGraphs, providers: ReadonlyArray<string>): Effect.Effect<ModelSessions, NoProvider> =>
  Effect.gen(function* () {
    assert(providers.length > 0, "at least one execution provider is listed")
    const tried: Array<ProviderAttempt> = []
    for (const provider of providers) {
      const opened = yield* Effect.result(openAllOn(graphs, provider))
      if (opened._tag === "Success") return { ...opened.success, report: { provider, tried } }
      tried.push({ provider, error: opened.failure.reason })
    }
    return yield* new NoProvider({ tried })
  })

const latentDims = (shape: LatentShape) => [shape.batch, shape.channels, shape.height, shape.width]

/** The first output of a run, copied out of ORT's tensor so it outlives the session. */
const runFloat = async (session: Session, feeds: Record<string, Ort.Tensor>, output: string): Promise<Float32Array> => {
  const results = await session.run(feeds)
  const data = results[output]?.data
  assert(data instanceof Float32Array, `output '${output}' is float32`)
  return new Float32Array(data)
}

/** A pipeline over open sessions. `denoiser` is passed apart because LoRA swaps it alone. */
export const makeSessionPipeline = (sessions: { readonly textEncoder: Session; readonly denoiser: Session; readonly decoder: Session }, tokenCount: number): Pipeline => {
  const { Tensor } = onnxRuntime()
  return {
    encodeText: (tokens, batch) =>
      runFloat(sessions.textEncoder, { [textEncoderInput]: new Tensor("int64", tokens, [batch, tokenCount]) }, textEncoderOutput),
    predictNoise: (input) => runFloat(sessions.denoiser, {
      [denoiserInputs.latents]: new Tensor("float32", input.latents, latentDims(input.shape)),
      [denoiserInputs.timestep]: new Tensor("float32", input.timesteps, [input.shape.batch, 1]),
      [denoiserInputs.text]: new Tensor("float32", input.text, [input.shape.batch, input.text.length / input.shape.batch])
    }, denoiserOutput),
    decode: (latents, shape) =>
      runFloat(sessions.decoder, { [decoderInput]: new Tensor("float32", latents, latentDims(shape)) }, decoderOutput)
  }
}

/**
 * The ONNX Runtime backend: a small latent-diffusion model built in TypeScript (graph builder,
 * seeded weights), its sessions, a DDIM sampler with classifier-free guidance, LoRA adapters,
 * sleep and wake, a PNG encoder, and the Worker that serves it.
 *
 * Most callers need `saveModel` (prepare a model directory), `makeOnnxWorker` (one rank),
 * `createLora`/`writeLora` (make an adapter file) and `encodePng`; the rest is exported for tests
 * and for a CFG-parallel executor that drives the step loop across ranks.
 */
export { type BatchRun, type ImageItem, itemRgb, planBatch, type PlannedBatch } from "./batch-plan.ts"
export { CfgExchangeFailed, runSamplingCfgParallel, type CfgExchange, type CfgRole, type StepKey } from "./cfg-parallel.ts"
export { buildDecoder, referenceDecoder, toRgbBytes } from "./decoder.ts"
export { buildDenoiser, referenceDenoiser } from "./denoiser.ts"
export { GraphBuilder, readFloatInitializers, type FloatTensor } from "./graph.ts"
export { decodeLora, encodeLora, loraFileBytesMax, readLora, resolveAdapterPath, writeLora } from "./lora-file.ts"
export { bindLora, createLora, patchWeights, type LoraPair, type LoraTarget, type LoraWeights } from "./lora.ts"
export {
  buildGraphs, buildModel, graphFiles, loadModel, ModelManifest, saveModel, type LoadedModel, type Model, type ModelGraphs
} from "./model.ts"
export { makeReferencePipeline, type LatentShape, type NoiseInput, type Pipeline } from "./pipeline.ts"
export { crc32, encodePng } from "./png.ts"
export {
  guidedNoise, initialLatents, predictBranch, predictStacked, prepareSampling, runSampling,
  type Branch, type SamplingItem, type SamplingJob, type SamplingResult, type SamplingState, type SamplingTimings
} from "./sampler.ts"
export { combineGuidance, ddimStep, makeDdimSchedule, type DdimSchedule } from "./schedule.ts"
export {
  defaultProviders, makeSessionPipeline, NoProvider, onnxRuntime, openSession, openSessions, releaseSessions, SessionFailed,
  type ModelSessions, type ProviderAttempt, type ProviderReport
} from "./sessions.ts"
export { clearTextCache, makeTextCache, withTextCache, type TextCache } from "./text-cache.ts"
export { buildTextEncoder, referenceTextEncoder, tokenize, tokenizeBatch } from "./text-encoder.ts"
export { defaultModelConfig, loraTargets, makeWeights, resolveModelConfig, type ModelConfig, type ModelOptions, type WeightSet } from "./weights.ts"
export { makeOnnxWorker, type OnnxWorker, type OnnxWorkerOptions, type OnnxWorkerTruth } from "./worker.ts"

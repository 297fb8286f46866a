/**
 * The text encoder: a deterministic tokenizer, then an embedding table pooled into one vector.
 *
 * Tokenizer: the prompt's UTF-8 bytes are split at ASCII whitespace, each word is lower-cased and
 * hashed (FNV-1a over its bytes) into ids 1..vocabSize-1; id 0 pads to `tokenCount` tokens, and
 * words past `tokenCount` are dropped. A hashed vocabulary needs no vocabulary file, and equal
 * prompts give equal tokens on every runtime.
 *
 * Graph: tokens int64 [batch, tokenCount] → Gather(text.embedding) [batch, tokenCount, textDim]
 * → ReduceMean over tokens → Gemm(text.projection) → Tanh → text [batch, textDim]. Padding is
 * averaged in too, so the prompt's length shapes the embedding as well as its words.
 */
import { assert } from "../../core/assert.ts"
import { GraphBuilder, intAttribute, intsAttribute } from "./graph.ts"
import { gemmTransposed } from "./kernels.ts"
import { type ModelConfig, type WeightSet, weightOf } from "./weights.ts"

export const textEncoderInput = "tokens"
export const textEncoderOutput = "text"

const fnv1a = (bytes: Uint8Array): number => {
  let hash = 0x811c9dc5
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193)
  return hash >>> 0
}

const isAsciiSpace = (byte: number) => byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)

/** The token ids of one prompt: exactly `tokenCount` of them. */
export const tokenize = (prompt: string, config: ModelConfig): Int32Array => {
  const bytes = new TextEncoder().encode(prompt.toLowerCase())
  const tokens = new Int32Array(config.tokenCount)
  let count = 0
  let start = 0
  for (let index = 0; index <= bytes.length && count < config.tokenCount; index++) {
    if (index < bytes.length && !isAsciiSpace(bytes[index])) continue
    if (index > start) tokens[count++] = 1 + (fnv1a(bytes.subarray(start, index)) % (config.vocabSize - 1))
    start = index + 1
  }
  return tokens
}

/** The tokens of several prompts, stacked along the batch as the graph's int64 input wants. */
export const tokenizeBatch = (prompts: ReadonlyArray<string>, config: ModelConfig): BigInt64Array => {
  const out = new BigInt64Array(prompts.length * config.tokenCount)
  prompts.forEach((prompt, row) => {
    tokenize(prompt, config).forEach((token, column) => { out[row * config.tokenCount + column] = BigInt(token) })
  })
  return out
}

/** The text encoder's ModelProto bytes. */
export const buildTextEncoder = (config: ModelConfig, weights: WeightSet): Uint8Array => {
  const graph = new GraphBuilder("rankwise-text-encoder")
  const tokens = graph.input(textEncoderInput, "int64", ["batch", config.tokenCount])
  const table = graph.weight("text.embedding", weightOf(weights, "text.embedding"))
  const embedded = graph.node("Gather", [table, tokens], "embedded", { axis: intAttribute(0) })
  // Opset 17 still takes ReduceMean's axes as an attribute (opset 18 moved them to an input).
  const pooled = graph.node("ReduceMean", [embedded], "pooled", { axes: intsAttribute([1]), keepdims: intAttribute(0) })
  const projected = graph.node("Gemm", [
    pooled,
    graph.weight("text.projection.weight", weightOf(weights, "text.projection.weight")),
    graph.weight("text.projection.bias", weightOf(weights, "text.projection.bias"))
  ], "projected", { transB: intAttribute(1) })
  graph.node("Tanh", [projected], textEncoderOutput)
  graph.output(textEncoderOutput, "float32", ["batch", config.textDim])
  return graph.encode()
}

/** The reference of the same math: text embeddings [batch, textDim] for `tokens` [batch, tokenCount]. */
export const referenceTextEncoder = (config: ModelConfig, weights: WeightSet, tokens: BigInt64Array): Float32Array => {
  const batch = tokens.length / config.tokenCount
  assert(Number.isInteger(batch), "tokens are [batch, tokenCount]")
  const table = weightOf(weights, "text.embedding").data
  const pooled = new Float32Array(batch * config.textDim)
  for (let row = 0; row < batch; row++) {
    for (let dim = 0; dim < config.textDim; dim++) {
      let sum = 0
      for (let position = 0; position < config.tokenCount; position++) {
        sum += table[Number(tokens[row * config.tokenCount + position]) * config.textDim + dim]
      }
      pooled[row * config.textDim + dim] = sum / config.tokenCount
    }
  }
  const projected = gemmTransposed(pooled, batch, weightOf(weights, "text.projection.weight"), weightOf(weights, "text.projection.bias"))
  return projected.map(Math.tanh)
}

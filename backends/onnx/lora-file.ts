/**
 * The adapter file format (`.rwlora`), and reading adapters only from the adapter directory.
 *
 * Layout, all integers little-endian:
 *
 *   bytes 0-7    magic "RWLORA01"
 *   bytes 8-11   uint32 H, the header's length in bytes
 *   bytes 12..   H bytes of UTF-8 JSON:
 *                { "format": "rankwise-lora", "version": 1, "rank": r, "scale": s,
 *                  "tensors": [{ "target": "<weight name>",
 *                                "a": { "dims": [r, in], "offset": <byte offset> },
 *                                "b": { "dims": [out, r], "offset": <byte offset> } }] }
 *   then zero bytes up to the next multiple of 4, then the payload: float32 little-endian;
 *   offsets count from the payload's first byte.
 *
 * A JSON header keeps the file inspectable with `head -c`, and a raw float payload keeps it
 * exact and small. Every way a file can be wrong is a `LoraInvalid` with the reason.
 *
 * Paths: an adapter path is resolved against the adapter directory, then both are resolved to
 * real paths (following every symlink) and the file must lie inside the directory. That refuses
 * `..` escapes, absolute paths elsewhere, and symlinks inside the directory that point out of it.
 */
import { readFile, realpath, stat, writeFile } from "node:fs/promises"
import { isAbsolute, join, relative, sep } from "node:path"
import { Effect, Result, Schema } from "effect"
import { LoraInvalid } from "../../core/errors.ts"
import { float32LittleEndian } from "./graph.ts"
import type { LoraWeights } from "./lora.ts"

const magic = "RWLORA01"
const prefixBytes = 12
/** Adapter files are small; a bound on reads keeps a wrong path from pulling in a huge file. */
export const loraFileBytesMax = 64 * 1024 * 1024

const TensorEntry = Schema.Struct({ dims: Schema.Array(Schema.Int), offset: Schema.Int })
const LoraHeader = Schema.Struct({
  format: Schema.Literal("rankwise-lora"),
  version: Schema.Literal(1),
  rank: Schema.Int,
  scale: Schema.Finite,
  tensors: Schema.Array(Schema.Struct({ target: Schema.String, a: TensorEntry, b: TensorEntry }))
})

const padTo4 = (length: number) => (4 - (length % 4)) % 4

/** The file bytes of an adapter. */
export const encodeLora = (lora: LoraWeights): Uint8Array => {
  let offset = 0
  const place = (data: Float32Array) => {
    const at = offset
    offset += data.byteLength
    return at
  }
  const tensors = lora.pairs.map((pair) => ({
    target: pair.target,
    a: { dims: pair.a.dims, offset: place(pair.a.data) },
    b: { dims: pair.b.dims, offset: place(pair.b.data) }
  }))
  const header = new TextEncoder().encode(JSON.stringify({ format: "rankwise-lora", version: 1, rank: lora.rank, scale: lora.scale, tensors }))
  const payloadStart = prefixBytes + header.length + padTo4(prefixBytes + header.length)
  const out = new Uint8Array(payloadStart + offset)
  out.set(new TextEncoder().encode(magic))
  new DataView(out.buffer).setUint32(8, header.length, true)
  out.set(header, prefixBytes)
  for (const [pair, entry] of lora.pairs.map((pair, index) => [pair, tensors[index]] as const)) {
    out.set(float32LittleEndian(pair.a.data), payloadStart + entry.a.offset)
    out.set(float32LittleEndian(pair.b.data), payloadStart + entry.b.offset)
  }
  return out
}

/** Decodes adapter file bytes, or says what is wrong with them. */
export const decodeLora = (bytes: Uint8Array, adapterId: number): Result.Result<LoraWeights, LoraInvalid> => {
  const invalid = (reason: string) => Result.fail(new LoraInvalid({ adapterId, reason: `corrupt adapter file: ${reason}` }))
  if (bytes.length < prefixBytes || new TextDecoder().decode(bytes.subarray(0, 8)) !== magic) return invalid("no RWLORA01 magic")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLength = view.getUint32(8, true)
  if (prefixBytes + headerLength > bytes.length) return invalid("header runs past the end of the file")
  const json = Result.try(() => JSON.parse(new TextDecoder().decode(bytes.subarray(prefixBytes, prefixBytes + headerLength))) as unknown)
  if (Result.isFailure(json)) return invalid("header is not JSON")
  const header = Schema.decodeUnknownResult(LoraHeader)(json.success)
  if (Result.isFailure(header)) return invalid(`header does not match the format: ${String(header.failure)}`)
  const payloadStart = prefixBytes + headerLength + padTo4(prefixBytes + headerLength)
  const readTensor = (entry: typeof TensorEntry.Type, what: string): Result.Result<Float32Array, LoraInvalid> => {
    const count = entry.dims.reduce((a, b) => a * b, 1)
    const start = payloadStart + entry.offset
    if (entry.dims.some((dim) => dim < 1) || entry.offset % 4 !== 0) return invalid(`${what} has bad dims or offset`)
    if (start + count * 4 > bytes.length) return invalid(`${what} runs past the end of the file`)
    const data = new Float32Array(count)
    for (let index = 0; index < count; index++) data[index] = view.getFloat32(start + index * 4, true)
    return data.every(Number.isFinite) ? Result.succeed(data) : invalid(`${what} holds a value that is not finite`)
  }
  const pairs = []
  for (const tensor of header.success.tensors) {
    const a = readTensor(tensor.a, `A of ${tensor.target}`)
    if (Result.isFailure(a)) return Result.fail(a.failure)
    const b = readTensor(tensor.b, `B of ${tensor.target}`)
    if (Result.isFailure(b)) return Result.fail(b.failure)
    pairs.push({ target: tensor.target, a: { dims: tensor.a.dims, data: a.success }, b: { dims: tensor.b.dims, data: b.success } })
  }
  return Result.succeed({ rank: header.success.rank, scale: header.success.scale, pairs })
}

/** Writes an adapter file. */
export const writeLora = async (path: string, lora: LoraWeights): Promise<void> => {
  await writeFile(path, encodeLora(lora))
}

const fsCode = (error: unknown) => (error as { readonly code?: string }).code ?? String(error)

/** The real path of `path` (relative paths count from the adapter directory), if it lies inside it. */
export const resolveAdapterPath = (adapterDir: string, path: string, adapterId: number): Effect.Effect<string, LoraInvalid> =>
  Effect.gen(function* () {
    const invalid = (reason: string) => new LoraInvalid({ adapterId, reason })
    const realDir = yield* Effect.tryPromise({ try: () => realpath(adapterDir), catch: (error) => invalid(`the adapter directory ${adapterDir} is unusable (${fsCode(error)})`) })
    const candidate = isAbsolute(path) ? path : join(realDir, path)
    const realFile = yield* Effect.tryPromise({ try: () => realpath(candidate), catch: (error) => invalid(`cannot open ${path} (${fsCode(error)})`) })
    const inside = relative(realDir, realFile)
    if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      return yield* invalid(`${path} lies outside the adapter directory ${adapterDir}`)
    }
    return realFile
  })

/** Reads an adapter from the adapter directory: path check, size bound, then decoding. */
export const readLora = (path: string, options: { readonly adapterDir: string; readonly adapterId: number }): Effect.Effect<LoraWeights, LoraInvalid> =>
  Effect.gen(function* () {
    const invalid = (reason: string) => new LoraInvalid({ adapterId: options.adapterId, reason })
    const realFile = yield* resolveAdapterPath(options.adapterDir, path, options.adapterId)
    const info = yield* Effect.tryPromise({ try: () => stat(realFile), catch: (error) => invalid(`cannot read ${path} (${fsCode(error)})`) })
    if (!info.isFile()) return yield* invalid(`${path} is not a file`)
    if (info.size > loraFileBytesMax) return yield* invalid(`${path} is larger than ${loraFileBytesMax} bytes`)
    const buffer = yield* Effect.tryPromise({ try: () => readFile(realFile), catch: (error) => invalid(`cannot read ${path} (${fsCode(error)})`) })
    return yield* Effect.fromResult(decodeLora(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), options.adapterId))
  })

/**
 * The protobuf wire format, as much of it as ONNX models need: encode and decode.
 *
 * ONNX models are protobuf messages. There is no Python ML stack on the machines this project
 * targets, so the model is built in TypeScript, and pulling in protobufjs for four wire types
 * would be a large dependency for a small job. A message is a sequence of fields; each field is a
 * key (field number << 3 | wire type) followed by a varint (wire type 0), 8 bytes (type 1), a
 * length-prefixed byte string (type 2) or 4 bytes (type 5). Nested messages are length-prefixed
 * byte strings, so an encoder builds children first and embeds their bytes.
 *
 * The decoder exists so a worker can read the weights back out of the `.onnx` files it loads: the
 * files on disk are the source of truth, not the seed that once generated them.
 */
import { assert } from "../../core/assert.ts"

const wireVarint = 0
const wire64Bit = 1
const wireBytes = 2
const wire32Bit = 5

/** Appends protobuf fields to a growing buffer. One writer builds one message. */
export class ProtoWriter {
  private chunks: Array<Uint8Array> = []
  private pending: Array<number> = []

  /** Field `field` as a varint. Negative numbers take ten bytes, as protobuf's int64 does. */
  varint(field: number, value: number | bigint): this {
    this.key(field, wireVarint)
    this.rawVarint(BigInt.asUintN(64, BigInt(value)))
    return this
  }

  /** Field `field` as a length-delimited byte string (bytes, strings and nested messages). */
  bytes(field: number, value: Uint8Array): this {
    this.key(field, wireBytes)
    this.rawVarint(BigInt(value.length))
    this.flushPending()
    this.chunks.push(value)
    return this
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value))
  }

  /** Field `field` as a 32-bit float (wire type 5, little-endian). */
  float(field: number, value: number): this {
    this.key(field, wire32Bit)
    const view = new DataView(new ArrayBuffer(4))
    view.setFloat32(0, value, true)
    for (let index = 0; index < 4; index++) this.pending.push(view.getUint8(index))
    return this
  }

  /** A nested message: encoded by its own writer, embedded as bytes. */
  message(field: number, build: (writer: ProtoWriter) => void): this {
    const child = new ProtoWriter()
    build(child)
    return this.bytes(field, child.finish())
  }

  finish(): Uint8Array {
    this.flushPending()
    const length = this.chunks.reduce((total, chunk) => total + chunk.length, 0)
    const out = new Uint8Array(length)
    let offset = 0
    for (const chunk of this.chunks) {
      out.set(chunk, offset)
      offset += chunk.length
    }
    return out
  }

  private key(field: number, wireType: number): void {
    assert(Number.isInteger(field) && field >= 1, "a protobuf field number is a positive integer")
    this.rawVarint(BigInt(field * 8 + wireType))
  }

  private rawVarint(value: bigint): void {
    let rest = value
    while (rest >= 0x80n) {
      this.pending.push(Number(rest & 0x7fn) | 0x80)
      rest >>= 7n
    }
    this.pending.push(Number(rest))
  }

  private flushPending(): void {
    if (this.pending.length === 0) return
    this.chunks.push(Uint8Array.from(this.pending))
    this.pending = []
  }
}

/** One decoded field: its number and its value (a bigint for varints, bytes otherwise). */
export type ProtoField =
  | { readonly field: number; readonly kind: "varint"; readonly value: bigint }
  | { readonly field: number; readonly kind: "bytes"; readonly value: Uint8Array }
  | { readonly field: number; readonly kind: "fixed"; readonly value: Uint8Array }

/** A malformed message: truncated, or a wire type ONNX never uses. */
export class ProtoDecodeError extends Error {
  override readonly name = "ProtoDecodeError"
}

/** The fields of one message, in order. Throws `ProtoDecodeError` on malformed input. */
export const decodeFields = (bytes: Uint8Array): ReadonlyArray<ProtoField> => {
  const fields: Array<ProtoField> = []
  let offset = 0
  const readVarint = (): bigint => {
    let value = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (offset >= bytes.length) throw new ProtoDecodeError("truncated varint")
      const byte = bytes[offset++]
      value |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return value
    }
    throw new ProtoDecodeError("varint longer than ten bytes")
  }
  const take = (length: number): Uint8Array => {
    if (offset + length > bytes.length) throw new ProtoDecodeError("truncated field")
    const value = bytes.subarray(offset, offset + length)
    offset += length
    return value
  }
  while (offset < bytes.length) {
    const key = readVarint()
    const field = Number(key >> 3n)
    const wireType = Number(key & 7n)
    if (wireType === wireVarint) fields.push({ field, kind: "varint", value: readVarint() })
    else if (wireType === wireBytes) fields.push({ field, kind: "bytes", value: take(Number(readVarint())) })
    else if (wireType === wire32Bit) fields.push({ field, kind: "fixed", value: take(4) })
    else if (wireType === wire64Bit) fields.push({ field, kind: "fixed", value: take(8) })
    else throw new ProtoDecodeError(`unsupported wire type ${wireType}`)
  }
  return fields
}

/** Packed (or single) varints of a repeated field, as numbers. */
export const decodePackedVarints = (field: ProtoField): ReadonlyArray<number> => {
  if (field.kind === "varint") return [Number(BigInt.asIntN(64, field.value))]
  if (field.kind !== "bytes") throw new ProtoDecodeError(`field ${field.field} is not a varint list`)
  return decodeFields(concatKeyed(field.value)).map((inner) => {
    if (inner.kind !== "varint") throw new ProtoDecodeError("packed list holds a non-varint")
    return Number(BigInt.asIntN(64, inner.value))
  })
}

// A packed list is bare varints without keys; prefixing each with key 8 (field 1, varint) lets
// the one field decoder read it instead of a second hand-written loop.
const concatKeyed = (packed: Uint8Array): Uint8Array => {
  const out: Array<number> = []
  let startOfValue = true
  for (const byte of packed) {
    if (startOfValue) out.push(8)
    out.push(byte)
    startOfValue = (byte & 0x80) === 0
  }
  if (!startOfValue) throw new ProtoDecodeError("truncated packed varint")
  return Uint8Array.from(out)
}

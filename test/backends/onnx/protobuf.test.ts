/**
 * Goal: the protobuf writer emits the wire format protobuf specifies, and the reader reads back
 * what the writer wrote (it is how a worker gets weights out of model files).
 * Method: known byte sequences for each wire type, fast-check round trips for varints and
 * nested messages, and malformed inputs that must be refused with ProtoDecodeError.
 */
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { decodeFields, decodePackedVarints, ProtoDecodeError, ProtoWriter } from "../../../backends/onnx/protobuf.ts"

describe("ProtoWriter", () => {
  it("writes a varint field as key then base-128 digits, low group first", () => {
    expect([...new ProtoWriter().varint(1, 300).finish()]).toEqual([0x08, 0xac, 0x02])
  })

  it("writes a negative varint as ten bytes, as protobuf's int64 does", () => {
    const bytes = new ProtoWriter().varint(3, -1).finish()
    expect(bytes.length).toBe(11)
    expect(decodePackedVarints(decodeFields(bytes)[0])).toEqual([-1])
  })

  it("writes a float as wire type 5, little-endian", () => {
    expect([...new ProtoWriter().float(2, 1).finish()]).toEqual([0x15, 0x00, 0x00, 0x80, 0x3f])
  })

  it("writes strings and nested messages length-delimited", () => {
    const bytes = new ProtoWriter().string(1, "ab").message(7, (inner) => inner.varint(1, 5)).finish()
    expect([...bytes]).toEqual([0x0a, 2, 0x61, 0x62, 0x3a, 2, 0x08, 5])
  })
})

describe("decodeFields", () => {
  test.prop([fc.array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.maxSafeNat()), { maxLength: 20 })])(
    "reads back every varint field the writer wrote, in order", (fields) => {
      const writer = new ProtoWriter()
      for (const [field, value] of fields) writer.varint(field, value)
      const decoded = decodeFields(writer.finish())
      expect(decoded.map((entry) => [entry.field, entry.kind === "varint" ? Number(entry.value) : NaN])).toEqual(fields)
    })

  test.prop([fc.array(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { minLength: 1, maxLength: 20 })])(
    "reads a packed list and the same list unpacked as the same numbers", (values) => {
      const unpacked = new ProtoWriter()
      for (const value of values) unpacked.varint(4, value)
      // A packed list is the bare varints: each one-field message minus its one-byte key.
      const bare = values.flatMap((value) => [...new ProtoWriter().varint(1, value).finish().subarray(1)])
      const packed = new ProtoWriter().bytes(4, Uint8Array.from(bare)).finish()
      expect(decodeFields(unpacked.finish()).flatMap(decodePackedVarints)).toEqual(values)
      expect(decodeFields(packed).flatMap(decodePackedVarints)).toEqual(values)
    })

  it("reads a packed varint list written as one length-delimited field", () => {
    const packed = new ProtoWriter().bytes(1, Uint8Array.of(0x03, 0xac, 0x02, 0x01)).finish()
    expect(decodePackedVarints(decodeFields(packed)[0])).toEqual([3, 300, 1])
  })

  it("refuses truncated input and unknown wire types", () => {
    expect(() => decodeFields(Uint8Array.of(0x0a, 5, 1))).toThrow(ProtoDecodeError)
    expect(() => decodeFields(Uint8Array.of(0x08, 0x80))).toThrow(ProtoDecodeError)
    expect(() => decodeFields(Uint8Array.of(0x0b))).toThrow(ProtoDecodeError)
  })
})

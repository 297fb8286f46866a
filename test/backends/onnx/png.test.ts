/**
 * Goal: encodePng writes a valid PNG: the signature, an IHDR for 8-bit RGB, IDAT chunks whose
 * inflated scanlines give back every pixel, IEND, and a correct CRC on every chunk.
 * Method: a small decoder written here from the PNG specification (filter 0 only, which is all
 * the encoder writes) reads the file back; fast-check over random images.
 */
import { Buffer } from "node:buffer"
import { inflateSync } from "node:zlib"
import { fc, test } from "@fast-check/vitest"
import { describe, expect, it } from "vitest"
import { crc32, encodePng } from "../../../backends/onnx/png.ts"

interface Chunk { readonly type: string; readonly data: Uint8Array; readonly crcOk: boolean }

const readChunks = (png: Uint8Array): ReadonlyArray<Chunk> => {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength)
  const chunks: Array<Chunk> = []
  for (let offset = 8; offset < png.length;) {
    const length = view.getUint32(offset)
    const type = new TextDecoder().decode(png.subarray(offset + 4, offset + 8))
    const data = png.subarray(offset + 8, offset + 8 + length)
    chunks.push({ type, data, crcOk: view.getUint32(offset + 8 + length) === crc32(png.subarray(offset + 4, offset + 8 + length)) })
    offset += 12 + length
  }
  return chunks
}

const decodePng = (png: Uint8Array) => {
  const chunks = readChunks(png)
  const header = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, 13)
  const width = header.getUint32(0)
  const height = header.getUint32(4)
  const idat = Buffer.concat(chunks.filter((chunk) => chunk.type === "IDAT").map((chunk) => chunk.data))
  const scanlines = new Uint8Array(inflateSync(idat))
  const rgb = new Uint8Array(width * height * 3)
  for (let row = 0; row < height; row++) {
    expect(scanlines[row * (width * 3 + 1)]).toBe(0)
    rgb.set(scanlines.subarray(row * (width * 3 + 1) + 1, (row + 1) * (width * 3 + 1)), row * width * 3)
  }
  return { chunks, width, height, bitDepth: chunks[0].data[8], colorType: chunks[0].data[9], rgb }
}

describe("encodePng", () => {
  it("computes the CRC-32 PNG uses (the IEND chunk's is AE426082)", () => {
    expect(crc32(new TextEncoder().encode("IEND"))).toBe(0xae426082)
  })

  it("writes the signature, IHDR (8-bit RGB), IDAT and IEND with valid CRCs", () => {
    const png = encodePng({ width: 3, height: 2, rgb: Uint8Array.from({ length: 18 }, (_, index) => index * 14) })
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    const decoded = decodePng(png)
    expect(decoded.chunks.map((chunk) => chunk.type)).toEqual(["IHDR", "IDAT", "IEND"])
    expect(decoded.chunks.every((chunk) => chunk.crcOk)).toBe(true)
    expect([decoded.width, decoded.height, decoded.bitDepth, decoded.colorType]).toEqual([3, 2, 8, 2])
    expect([...decoded.chunks[0].data.subarray(10)]).toEqual([0, 0, 0])
  })

  test.prop([fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 2 ** 31 })])(
    "round-trips every pixel", (width, height, seed) => {
      const rgb = Uint8Array.from({ length: width * height * 3 }, (_, index) => (Math.imul(index + 1, seed | 1) >>> 13) & 0xff)
      const decoded = decodePng(encodePng({ width, height, rgb }))
      expect([decoded.width, decoded.height]).toEqual([width, height])
      expect(decoded.rgb).toEqual(rgb)
    })
})

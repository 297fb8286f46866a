/**
 * A PNG encoder for 8-bit RGB images: signature, IHDR, one IDAT, IEND.
 *
 * Generated images leave the engine as raw RGB; a CLI or report turns them into files with this.
 * Each scanline is stored with filter 0 (none) and the whole image is compressed by zlib
 * (`node:zlib` deflateSync, available on Node, Bun and Deno), which is all a valid PNG needs.
 * Every chunk ends with the CRC-32 of its type and data (ISO 3309, polynomial 0xEDB88320).
 */
import { deflateSync } from "node:zlib"
import { assert } from "../../core/assert.ts"

const signature = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)

const crcTable = (() => {
  const table = new Uint32Array(256)
  for (let index = 0; index < 256; index++) {
    let value = index
    for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1
    table[index] = value >>> 0
  }
  return table
})()

/** CRC-32 as PNG and zlib's gzip use it. */
export const crc32 = (bytes: Uint8Array): number => {
  let crc = 0xffffffff
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** One chunk: length, type, data, CRC over type and data. */
const chunk = (type: string, data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(12 + data.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, data.length)
  out.set(new TextEncoder().encode(type), 4)
  out.set(data, 8)
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)))
  return out
}

const header = (width: number, height: number): Uint8Array => {
  const data = new Uint8Array(13)
  const view = new DataView(data.buffer)
  view.setUint32(0, width)
  view.setUint32(4, height)
  // Bit depth 8, colour type 2 (RGB), compression 0, filter method 0, no interlace.
  data.set([8, 2, 0, 0, 0], 8)
  return data
}

/** A PNG file of an RGB image: `rgb` holds width x height pixels, 3 bytes each, row-major. */
export const encodePng = (image: { readonly width: number; readonly height: number; readonly rgb: Uint8Array }): Uint8Array => {
  const { width, height, rgb } = image
  assert(Number.isInteger(width) && width >= 1 && Number.isInteger(height) && height >= 1, "a PNG has a positive size")
  assert(rgb.length === width * height * 3, "the RGB data holds 3 bytes per pixel")
  const rowBytes = width * 3
  const scanlines = new Uint8Array(height * (rowBytes + 1))
  for (let row = 0; row < height; row++) {
    // Byte 0 of each scanline is its filter type; 0 stores the row as it is.
    scanlines.set(rgb.subarray(row * rowBytes, (row + 1) * rowBytes), row * (rowBytes + 1) + 1)
  }
  const parts = [signature, chunk("IHDR", header(width, height)), chunk("IDAT", deflateSync(scanlines)), chunk("IEND", new Uint8Array(0))]
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

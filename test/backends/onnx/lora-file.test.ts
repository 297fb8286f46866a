/**
 * Goal: adapter files round-trip exactly; a corrupt file is LoraInvalid with a reason; and only
 * files inside the adapter directory are read: `..` escapes, absolute paths elsewhere and
 * symlinks pointing out are refused, while a symlink that stays inside is followed.
 * Method: files written into temporary directories, one outside the adapter directory.
 */
import { mkdir, symlink, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeLora, encodeLora, readLora, writeLora } from "../../../backends/onnx/lora-file.ts"
import { createLora } from "../../../backends/onnx/lora.ts"
import { buildModel } from "../../../backends/onnx/model.ts"
import { loraTargets } from "../../../backends/onnx/weights.ts"
import { makeTempDir, smallModel } from "./fixtures.ts"

const adapter = createLora({ seed: 3, rank: 2, targets: loraTargets(buildModel(smallModel).config), scale: 0.75 })
let root: Awaited<ReturnType<typeof makeTempDir>>
let adapterDir: string
beforeAll(async () => {
  root = await makeTempDir("lora-file")
  adapterDir = join(root.dir, "adapters")
  await mkdir(join(adapterDir, "nested"), { recursive: true })
  await writeLora(join(adapterDir, "style.rwlora"), adapter)
  await writeLora(join(root.dir, "outside.rwlora"), adapter)
  await symlink(join(root.dir, "outside.rwlora"), join(adapterDir, "escape.rwlora"))
  await symlink(join(adapterDir, "style.rwlora"), join(adapterDir, "nested", "alias.rwlora"))
  await writeFile(join(adapterDir, "garbage.rwlora"), "not an adapter")
})
afterAll(async () => { await root.remove() })

const read = (path: string) => Effect.runPromiseExit(readLora(path, { adapterDir, adapterId: 9 }))
const failureReason = (exit: Exit.Exit<unknown, { readonly reason: string; readonly adapterId: number }>) => {
  if (Exit.isSuccess(exit)) return "read"
  const reason = exit.cause.reasons[0]
  return reason?._tag === "Fail" ? `${reason.error.adapterId}: ${reason.error.reason}` : "defect"
}

describe("the .rwlora format", () => {
  it("round-trips every number exactly, with a readable JSON header after the magic", () => {
    const bytes = encodeLora(adapter)
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe("RWLORA01")
    expect(new TextDecoder().decode(bytes.subarray(12, 40))).toMatch(/^\{"format":"rankwise-lora"/)
    const decoded = decodeLora(bytes, 1)
    expect(decoded._tag === "Success" && decoded.success).toEqual(adapter)
  })

  it("refuses truncated, mislabelled and non-finite files as LoraInvalid", () => {
    const bytes = encodeLora(adapter)
    const reasonOf = (input: Uint8Array) => {
      const decoded = decodeLora(input, 1)
      return decoded._tag === "Failure" ? decoded.failure.reason : "decoded"
    }
    expect(reasonOf(bytes.subarray(0, bytes.length - 4))).toMatch(/runs past the end/)
    expect(reasonOf(Uint8Array.from([...bytes].map((byte, index) => index === 0 ? 0 : byte)))).toMatch(/magic/)
    const nonFinite = bytes.slice()
    new DataView(nonFinite.buffer).setFloat32(nonFinite.length - 4, Number.NaN, true)
    expect(reasonOf(nonFinite)).toMatch(/not finite/)
  })
})

describe("readLora", () => {
  it("reads a file inside the adapter directory, by relative or absolute path", async () => {
    expect(Exit.isSuccess(await read("style.rwlora"))).toBe(true)
    expect(Exit.isSuccess(await read(join(adapterDir, "style.rwlora")))).toBe(true)
  })

  it("follows a symlink that stays inside the directory", async () => {
    expect(Exit.isSuccess(await read("nested/alias.rwlora"))).toBe(true)
  })

  it("refuses a .. escape, an absolute path elsewhere, and a symlink pointing out", async () => {
    expect(failureReason(await read("../outside.rwlora"))).toMatch(/^9: .*outside the adapter directory/)
    expect(failureReason(await read(join(root.dir, "outside.rwlora")))).toMatch(/outside the adapter directory/)
    expect(failureReason(await read("escape.rwlora"))).toMatch(/outside the adapter directory/)
  })

  it("refuses a missing file, a directory and a corrupt file with reasons", async () => {
    expect(failureReason(await read("missing.rwlora"))).toMatch(/cannot open missing.rwlora \(ENOENT\)/)
    expect(failureReason(await read("nested"))).toMatch(/not a file/)
    expect(failureReason(await read("garbage.rwlora"))).toMatch(/corrupt adapter file/)
  })
})

/**
 * Goal: `rankwise generate` writes a valid PNG of the requested size through real rank
 * processes and reports per-step timings, the provider it got and the total time; `--json`
 * prints one JSON document; with two ranks and guidance the ranks split the branches; bad input
 * exits 2 with a message naming it before any rank starts. `model build` and `lora create` write
 * files that `generate` accepts.
 * Method: the commands' `run` called directly (the CLI table is the lead's), in a temporary
 * folder; the PNG is checked chunk by chunk (signature, IHDR, CRCs, inflated size). Run under
 * Node, Bun and Deno by running the suite under each.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inflateSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { crc32 } from "../../backends/onnx/png.ts"
import { generateCommand } from "../../cli/generate.ts"
import { loraCommand } from "../../cli/lora.ts"
import type { Command } from "../../cli/main.ts"
import { modelCommand } from "../../cli/model.ts"

let folder: string
beforeAll(async () => { folder = await mkdtemp(join(tmpdir(), "rankwise-generate-")) })
afterAll(async () => { await rm(folder, { recursive: true, force: true }) })

const run = async (command: Command, args: ReadonlyArray<string>) => {
  let stdout = ""
  let stderr = ""
  const io = { stdout: (text: string) => void (stdout += text), stderr: (text: string) => void (stderr += text) }
  const code = await command.run(args, { io, commands: [generateCommand, modelCommand, loraCommand] })
  return { code, stdout, stderr }
}

/** Checks a PNG chunk by chunk; answers its size. */
const checkPng = (bytes: Uint8Array) => {
  const buffer = Buffer.from(bytes)
  expect([...buffer.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  let offset = 8
  const chunks: Array<{ type: string; data: Buffer }> = []
  while (offset < buffer.length) {
    const length = buffer.readUInt32BE(offset)
    const type = buffer.subarray(offset + 4, offset + 8).toString("latin1")
    const data = buffer.subarray(offset + 8, offset + 8 + length)
    expect(buffer.readUInt32BE(offset + 8 + length)).toBe(crc32(buffer.subarray(offset + 4, offset + 8 + length)))
    chunks.push({ type, data })
    offset += 12 + length
  }
  expect(chunks.map((chunk) => chunk.type)).toEqual(["IHDR", "IDAT", "IEND"])
  const width = chunks[0].data.readUInt32BE(0)
  const height = chunks[0].data.readUInt32BE(4)
  expect([...chunks[0].data.subarray(8)]).toEqual([8, 2, 0, 0, 0])
  expect(inflateSync(chunks[1].data).length).toBe(height * (width * 3 + 1))
  return { width, height }
}

describe("rankwise generate", () => {
  it("writes a valid PNG and prints per-step timings, the provider and the total time", async () => {
    const out = join(folder, "fox.png")
    const result = await run(generateCommand, ["--prompt", "a red fox", "--steps", "6", "--seed", "3", "--providers", "cpu", "--out", out])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(checkPng(await readFile(out))).toEqual({ width: 64, height: 64 })
    expect(result.stdout).toContain(`wrote ${out} (64x64, seed 3)`)
    expect(result.stdout).toMatch(/provider: cpu; no fallback needed/)
    expect(result.stdout.match(/^ {2}step +\d+ +[\d.]+ ms$/gm)).toHaveLength(6)
    expect(result.stdout).toMatch(/^total [\d.]+ ms$/m)
  })

  it("with two ranks, guidance and an adapter made by lora create, prints one JSON document and splits the branches", async () => {
    const modelDir = join(folder, "model")
    const adapter = join(folder, "style.rwlora")
    expect((await run(modelCommand, ["build", "--out", modelDir, "--seed", "4"])).code).toBe(0)
    const created = await run(loraCommand, ["create", "--seed", "9", "--rank", "2", "--out", adapter, "--model", modelDir])
    expect(created.code).toBe(0)
    const out = join(folder, "guided.png")
    const result = await run(generateCommand, [
      "--prompt", "a lighthouse", "--negative", "blurry", "--guidance", "5", "--ranks", "2", "--steps", "4", "--size", "32",
      "--lora", adapter, "--model", modelDir, "--providers", "cpu", "--out", out, "--json"
    ])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({ out, width: 32, height: 32, ranks: 2, cfgParallel: true, provider: { provider: "cpu" } })
    expect(report.timings.stepMs).toHaveLength(4)
    expect(report.timings.exchangeMs).toHaveLength(4)
    expect(report.totalMs).toBeGreaterThan(0)
    expect(checkPng(await readFile(out))).toEqual({ width: 32, height: 32 })
  })

  it("exits 2 with a message naming the problem on bad input, before any rank starts", async () => {
    const garbage = join(folder, "garbage.rwlora")
    await writeFile(garbage, "not an adapter")
    const out = join(folder, "never.png")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["--prompt", "x", "--size", "60", "--out", out], /--size must be a multiple of 8, got 60/],
      [["--prompt", "x", "--steps", "0", "--out", out], /--steps must be an integer from 1 to 1000/],
      [["--prompt", "x", "--ranks", "3", "--out", out], /--ranks must be an integer from 1 to 2/],
      [["--prompt", "x", "--guidance", "-1", "--out", out], /--guidance must be a number of at least 0/],
      [["--out", out], /--prompt is required/],
      [["--prompt", "x"], /--out is required/],
      [["--prompt", "x", "--out", out, "--colour", "red"], /unknown option '--colour'/],
      [["--prompt", "x", "--out", out, "--lora", join(folder, "missing.rwlora")], /--lora .*missing\.rwlora cannot be read/],
      [["--prompt", "x", "--out", out, "--lora", garbage], /--lora .*garbage\.rwlora is not a usable adapter: LoraInvalid/],
      [["--prompt", "x", "--out", out, "--model", folder], /--model .* is not a usable model/]
    ]
    for (const [args, message] of cases) {
      const result = await run(generateCommand, args)
      expect({ args, code: result.code }).toEqual({ args, code: 2 })
      expect(result.stderr).toMatch(message)
    }
  })
})

describe("rankwise model and lora", () => {
  it("refuse missing subcommands and flags with exit 2", async () => {
    expect((await run(modelCommand, [])).code).toBe(2)
    expect((await run(modelCommand, ["build"])).stderr).toMatch(/--out is required/)
    expect((await run(loraCommand, ["create", "--seed", "1", "--out", join(folder, "x.rwlora")])).stderr).toMatch(/--rank is required/)
    expect((await run(loraCommand, ["create", "--seed", "1", "--rank", "0", "--out", join(folder, "x.rwlora")])).code).toBe(2)
    expect((await run(loraCommand, ["remove"])).stderr).toMatch(/unknown subcommand 'remove'/)
  })
})

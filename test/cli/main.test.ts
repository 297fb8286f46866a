import { readFileSync } from "node:fs"
import { describe, expect, test } from "vitest"
import { commands, EXIT_USAGE, main, type Io } from "../../cli/main.ts"
import { packageInfo } from "../../cli/version.ts"

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }

const run = async (argv: ReadonlyArray<string>) => {
  let stdout = ""
  let stderr = ""
  const io: Io = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }
  const code = await main(argv, io)
  return { code, stdout, stderr }
}

describe("rankwise CLI", () => {
  test("help lists every command", async () => {
    for (const argv of [["--help"], ["help"], ["-h"], []]) {
      const r = await run(argv)
      expect(r.code).toBe(0)
      expect(r.stderr).toBe("")
      expect(r.stdout).toContain("Usage: rankwise <command>")
      for (const c of commands) expect(r.stdout).toMatch(new RegExp(`^  ${c.name}\\b.*${c.summary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m"))
    }
    expect(commands.map((c) => c.name)).toEqual(expect.arrayContaining(["help", "version"]))
  })

  test("help <command> shows that command's usage", async () => {
    const r = await run(["help", "version"])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("Usage: rankwise version")
  })

  test("version matches package.json", async () => {
    expect(packageInfo().version).toBe(pkg.version)
    for (const argv of [["--version"], ["version"], ["-V"]]) {
      const r = await run(argv)
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(`rankwise ${pkg.version}\n`)
    }
  })

  test("unknown command exits 2 with a message on stderr", async () => {
    const r = await run(["definitely-not-a-command"])
    expect(r.code).toBe(EXIT_USAGE)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe("")
    expect(r.stderr).toContain("unknown command 'definitely-not-a-command'")
    const h = await run(["help", "nope"])
    expect(h.code).toBe(2)
  })

  test("a command that throws exits 1", async () => {
    let stderr = ""
    const io: Io = { stdout: () => {}, stderr: (t) => void (stderr += t) }
    const code = await main(["boom"], io, [
      { name: "boom", summary: "throws", run: async () => { throw new Error("kaput") } }
    ])
    expect(code).toBe(1)
    expect(stderr).toContain("kaput")
  })
})

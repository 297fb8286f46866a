/**
 * `rankwise rank` from the command line: who may start, and ranks started by hand serving an
 * engine that connects to them.
 *
 * Goal: a rank never starts open to a network without credentials, and ranks started as their
 * own processes (as on other hosts) join a cluster, serve it, and stop when the engine closes.
 * Method: the command's option parsing in process; then real `rankwise rank` processes and a
 * harness in `connect` mode through a real nats-server.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { rankCommand, rankOptions } from "../../../cli/rank.ts"
import { describeWithNats, type NatsServer, startNatsServer } from "./nats-server.ts"
import { startCli } from "./processes.ts"
import { errorOf, valueOf, withHarness } from "./clusters.ts"
import { type ImageItem, itemRgb } from "../../../backends/onnx/batch-plan.ts"
import { prepareOnnxAssets } from "../../../backends/process/onnx-assets.ts"

const captured = () => {
  let stderr = ""
  return { io: { stdout: () => {}, stderr: (text: string) => void (stderr += text) }, stderr: () => stderr }
}

describe("rankwise rank: credentials", () => {
  test("refuses to start without credentials on a non-loopback URL, and names the ways to give them", async () => {
    const out = captured()
    const code = await rankCommand.run(["--nats", "nats://10.0.0.7:4222", "--cluster", "c1", "--rank", "0"], { io: out.io, commands: [] })
    expect(code).toBe(2)
    expect(out.stderr()).toMatch(/no credentials: pass --token or --creds/)
  })

  test("--insecure does not open a non-loopback URL", () => {
    expect(rankOptions(["--nats", "nats://rank-host.example:4222", "--cluster", "c1", "--rank", "0", "--insecure"], {})).toMatch(/allowed only on a loopback URL/)
  })

  test("--insecure is allowed on loopback, and a token from the environment is enough elsewhere", () => {
    for (const url of ["nats://127.0.0.1:4222", "localhost:4222", "nats://[::1]:4222", "127.9.8.7"]) {
      expect(rankOptions(["--nats", url, "--cluster", "c1", "--rank", "0", "--insecure"], {})).toMatchObject({ endpoint: { auth: { _tag: "None" } } })
    }
    expect(rankOptions(["--nats", "nats://10.0.0.7:4222", "--cluster", "c1", "--rank", "0"], { RANKWISE_NATS_TOKEN: "s3cret" }))
      .toMatchObject({ endpoint: { auth: { _tag: "Token", token: "s3cret" } } })
  })

  test("--model onnx needs a model directory that holds a model; onnx flags on a sim rank are refused", async () => {
    const base = ["--nats", "127.0.0.1", "--cluster", "c1", "--rank", "0", "--insecure"]
    expect(rankOptions([...base, "--model", "onnx"], {})).toMatch(/--model onnx needs --model-dir DIR/)
    expect(rankOptions([...base, "--model", "onnx", "--model-dir", "/nonexistent/model"], {})).toMatch(/holds no model\.json/)
    expect(rankOptions([...base, "--model-dir", "/tmp"], {})).toMatch(/--model-dir applies to --model onnx only/)
    expect(rankOptions([...base, "--model", "tpu"], {})).toMatch(/--model must be one of sim, onnx/)
    const assets = await prepareOnnxAssets()
    expect(rankOptions([...base, "--model", "onnx", "--model-dir", assets.modelDir, "--adapter-dir", "/nonexistent/adapters"], {})).toMatch(/does not exist/)
    expect(rankOptions([...base, "--model", "onnx", "--model-dir", assets.modelDir, "--providers", " , "], {})).toMatch(/at least one provider/)
    expect(rankOptions([...base, "--model", "onnx", "--model-dir", assets.modelDir, "--adapter-dir", assets.adapterDir, "--providers", "cpu"], {})).toMatchObject({
      workerKind: "onnx", model: { onnx: { modelDir: assets.modelDir, adapterDir: assets.adapterDir, providers: ["cpu"] } }
    })
    // The adapters default to the model directory.
    expect(rankOptions([...base, "--model", "onnx", "--model-dir", assets.modelDir], {})).toMatchObject({ model: { onnx: { adapterDir: assets.modelDir } } })
  }, 60_000)

  test("bad usage names the flag", () => {
    expect(rankOptions(["--cluster", "c1", "--rank", "0", "--insecure"], {})).toMatch(/--nats URL is required/)
    expect(rankOptions(["--nats", "127.0.0.1", "--cluster", "a.b", "--rank", "0", "--insecure"], {})).toMatch(/--cluster/)
    expect(rankOptions(["--nats", "127.0.0.1", "--cluster", "c1", "--rank", "3", "--world-size", "2", "--insecure"], {})).toMatch(/below --world-size/)
  })
})

describeWithNats("rankwise rank processes", () => {
  let server: NatsServer
  beforeAll(async () => { server = await startNatsServer() })
  afterAll(async () => { await server?.dispose() })

  test("ranks started by hand join an engine that connects to them, serve it, and exit 0 when it closes", async () => {
    const cluster = "by-hand"
    const ranks = await Promise.all([0, 1].map((rank) =>
      startCli(["rank", "--nats", server.url, "--cluster", cluster, "--rank", String(rank), "--world-size", "2", "--join-timeout", "20s"], { RANKWISE_NATS_TOKEN: server.token })))
    try {
      await withHarness(server, { ranks: 2 }, async (harness) => {
        const health = await valueOf(harness, harness.executor.collectiveResult({ method: "checkHealth" }, { timeoutMs: 5_000 }))
        expect(health.outcomes.map((outcome) => outcome._tag)).toEqual(["Ok", "Ok"])
        expect(harness.cluster.local).toEqual([])
        const report = await valueOf(harness, harness.engine.close({ timeoutMs: 3_000 }))
        expect(report).toMatchObject({ state: "closed", stoppedRanks: [0, 1] })
      }, { ranks: "connect", joinTimeoutMs: 20_000 }, cluster)
      const exits = await Promise.all(ranks.map((rank) => rank.exited))
      expect(exits).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }])
    } finally {
      for (const rank of ranks) rank.kill()
    }
  })

  test("onnx ranks started by hand generate through the engine, take an adapter from their adapter directory, and refuse one outside it", async () => {
    const cluster = "by-hand-onnx"
    const assets = await prepareOnnxAssets()
    const ranks = await Promise.all([0, 1].map((rank) =>
      startCli([
        "rank", "--nats", server.url, "--cluster", cluster, "--rank", String(rank), "--world-size", "2", "--join-timeout", "30s",
        "--model", "onnx", "--model-dir", assets.modelDir, "--adapter-dir", assets.adapterDir, "--providers", "cpu"
      ], { RANKWISE_NATS_TOKEN: server.token }, { launch: "loader" })))
    try {
      await withHarness(server, { ranks: 2 }, async (harness) => {
        const request = (id: string, extra: Record<string, unknown> = {}) => ({
          requestId: id, prompt: "a lighthouse at dusk", negativePrompt: "blurry", guidanceScale: 4, height: 64, width: 64, steps: 4, seed: 21, ...extra
        })
        const plain = itemOf(await valueOf(harness, harness.engine.submit(request("plain")), 60_000))
        expect(plain).toMatchObject({ width: 64, height: 64, adapterId: null })
        expect(itemRgb(plain).length).toBe(64 * 64 * 3)

        await valueOf(harness, harness.engine.addLora({ id: 3, name: "adapter-3" }), 30_000)
        const adapted = itemOf(await valueOf(harness, harness.engine.submit(request("adapted", { lora: { id: 3, name: "adapter-3", scale: 1 } })), 60_000))
        expect(adapted.adapterId).toBe(3)
        expect(Buffer.from(itemRgb(adapted)).equals(Buffer.from(itemRgb(plain)))).toBe(false)

        const escape = await errorOf(harness, harness.engine.addLora({ id: 4, name: "escape", path: "../model/model.json" }), 30_000)
        expect(JSON.stringify(escape)).toMatch(/outside the adapter directory/)

        const report = await valueOf(harness, harness.engine.close({ timeoutMs: 5_000 }))
        expect(report).toMatchObject({ state: "closed", stoppedRanks: [0, 1] })
      }, { ranks: "connect", joinTimeoutMs: 30_000 }, cluster)
      const exits = await Promise.all(ranks.map((rank) => rank.exited))
      expect(exits).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }])
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- rank output ---\n${ranks.map((rank) => rank.output()).join("\n---\n")}`)
    } finally {
      for (const rank of ranks) rank.kill()
    }
  }, 120_000)
})

const itemOf = (output: { readonly output: { readonly payload: ReadonlyArray<{ readonly items: ReadonlyArray<unknown> }> } }) =>
  output.output.payload[0].items[0] as ImageItem

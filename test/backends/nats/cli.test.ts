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
import { valueOf, withHarness } from "./clusters.ts"

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
})

/**
 * A real nats-server for tests: on 127.0.0.1, on a free port, with JetStream in a temp store
 * folder and token auth; stopped (and its folder removed) at the end.
 *
 * When the binary is missing, a test folder must still say so clearly: under CI (`CI` set) every
 * suite fails with the install hint, elsewhere it is skipped with the reason in its name.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, test } from "vitest"

const readyTimeoutMs = 10_000
const stopTimeoutMs = 5_000
export const installHint = "nats-server is not installed: run scripts/install-nats.sh"

/**
 * The nats-server binary: on the PATH, or where Debian's package puts it (/usr/sbin, which a
 * non-root PATH often lacks); undefined when there is none.
 */
export const natsServerBinary = (): string | undefined =>
  ["nats-server", "/usr/sbin/nats-server"].find((candidate) => {
    try {
      return spawnSync(candidate, ["--version"], { encoding: "utf8" }).status === 0
    } catch {
      return false
    }
  })

export const natsServerAvailable = (): boolean => natsServerBinary() !== undefined

/**
 * `describe.concurrent` when nats-server exists (tests own their clusters and mostly wait on real
 * time); else a failing test under CI, a skipped suite elsewhere.
 */
export const describeWithNats = (name: string, body: () => void) => {
  if (natsServerAvailable()) return describe.concurrent(name, body)
  if (process.env.CI) return describe(name, () => test(`needs nats-server: ${installHint}`, () => { throw new Error(installHint) }))
  return describe.skip(`${name} (skipped: ${installHint})`, body)
}

export interface NatsServer {
  readonly url: string
  readonly port: number
  readonly token: string
  /** Stops the server (SIGTERM, then SIGKILL past a bound); JetStream data stays for a restart. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port with the same store. */
  readonly start: () => Promise<void>
  /** Stops it for good and removes its store. */
  readonly dispose: () => Promise<void>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

export const startNatsServer = async (token = `token-${Math.random().toString(36).slice(2)}`): Promise<NatsServer> => {
  const binary = natsServerBinary()
  if (binary === undefined) throw new Error(installHint)
  const port = await freePort()
  const storeDir = mkdtempSync(join(tmpdir(), "rankwise-nats-"))
  let child: ChildProcess | undefined

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const process_ = spawn(binary, ["-a", "127.0.0.1", "-p", String(port), "--auth", token, "-js", "-sd", storeDir], { stdio: ["ignore", "ignore", "pipe"] })
      child = process_
      let log = ""
      const timer = setTimeout(() => reject(new Error(`nats-server did not get ready within ${readyTimeoutMs} ms: ${log}`)), readyTimeoutMs)
      process_.stderr!.on("data", (chunk: Buffer) => {
        log += String(chunk)
        if (log.includes("Server is ready")) {
          clearTimeout(timer)
          resolve()
        }
      })
      process_.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`nats-server exited with ${code}: ${log}`))
      })
    })

  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()))
    running.kill("SIGTERM")
    const timer = setTimeout(() => running.kill("SIGKILL"), stopTimeoutMs)
    await exited
    clearTimeout(timer)
  }

  // A test runner that ends abruptly must not leave a server behind: kill it on the way out.
  const killOnExit = () => child?.kill("SIGKILL")
  process.once("exit", killOnExit)
  await start()
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    token,
    stop,
    start,
    dispose: async () => {
      process.removeListener("exit", killOnExit)
      await stop()
      rmSync(storeDir, { recursive: true, force: true })
    }
  }
}

/**
 * Goal: the CFG channel carries float32 predictions exactly between its two ends, keyed by
 * (batch, step); a stale frame is dropped and never answers a later step; a peer that gives up
 * on a batch fails this end's exchanges for it at once; and every way the
 * peer can fail is a `CfgExchangeFailed` naming the peer rank within the bound: a peer that never
 * answers (timed out), a peer that goes away (connection lost, at once), a peer that speaks
 * garbage (malformed frame), and a peer that is not there at all (cannot connect).
 * Method: both ends in this process over a Unix socket in a temporary folder.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { createConnection } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { connectCfgChannel, type CfgSocketChannel, encodeFrame, listenCfgChannel } from "../../../backends/process/cfg-socket.ts"

let folder: string
let opened: Array<CfgSocketChannel> = []
beforeEach(async () => { folder = await mkdtemp(join(tmpdir(), "rankwise-cfg-test-")) })
afterEach(async () => {
  for (const channel of opened) channel.close()
  opened = []
  await rm(folder, { recursive: true, force: true })
})

const pair = async (exchangeTimeoutMs = 2_000) => {
  const socketPath = join(folder, "cfg.sock")
  const rank0 = listenCfgChannel({ socketPath, peerRank: 1, exchangeTimeoutMs })
  const rank1 = connectCfgChannel({ socketPath, peerRank: 0, exchangeTimeoutMs })
  opened.push(rank0, rank1)
  await rank0.ready(1_000)
  await rank1.ready(1_000)
  return { rank0, rank1, socketPath }
}

const values = (...numbers: ReadonlyArray<number>) => Float32Array.from(numbers)

describe("the CFG socket channel", () => {
  it("exchanges predictions both ways, exactly, step after step", async () => {
    const { rank0, rank1 } = await pair()
    for (let stepIndex = 0; stepIndex < 3; stepIndex++) {
      const key = { batchId: 4, stepIndex }
      const mine0 = values(stepIndex, Math.PI, -0, Number.MIN_VALUE)
      const mine1 = values(-stepIndex, Math.E, 1e30, -1e-30)
      const [got0, got1] = await Promise.all([rank0.exchange(key, mine0), rank1.exchange(key, mine1)])
      expect(got0).toEqual(mine1)
      expect(got1).toEqual(mine0)
    }
  })

  it("drops a frame of an older step instead of answering the awaited one with it", async () => {
    const { rank0, rank1 } = await pair()
    // Rank 1 finishes an exchange rank 0 never makes (rank 0 gave up on batch 1).
    const late = rank1.exchange({ batchId: 1, stepIndex: 7 }, values(9)).catch((error: unknown) => error)
    await new Promise((resolve) => setTimeout(resolve, 50))
    rank1.close()
    await late
    const { rank1: again } = await reconnect(rank0)
    const [got0, got1] = await Promise.all([rank0.exchange({ batchId: 2, stepIndex: 0 }, values(1)), again.exchange({ batchId: 2, stepIndex: 0 }, values(2))])
    expect(got0).toEqual(values(2))
    expect(got1).toEqual(values(1))
    expect(rank0.droppedFrames()).toBe(1)
  })

  it("fails exchanges of a batch the peer gave up on at once, pending or later, and keeps serving the next batch", async () => {
    const { rank0, rank1 } = await pair(10_000)
    const started = performance.now()
    const pending = rank0.exchange({ batchId: 5, stepIndex: 3 }, values(1))
    rank1.abandon(5)
    await expect(pending).rejects.toMatchObject({ _tag: "CfgExchangeFailed", message: "CFG exchange with rank 1 failed: the peer gave up on this batch (batch 5, step 3)" })
    await expect(rank0.exchange({ batchId: 5, stepIndex: 4 }, values(1))).rejects.toMatchObject({ _tag: "CfgExchangeFailed" })
    expect(performance.now() - started).toBeLessThan(2_000)
    const [got0, got1] = await Promise.all([rank0.exchange({ batchId: 6, stepIndex: 0 }, values(3)), rank1.exchange({ batchId: 6, stepIndex: 0 }, values(4))])
    expect([got0, got1]).toEqual([values(4), values(3)])
  })

  it("fails an exchange the peer never answers once its bound passes, naming the peer", async () => {
    const { rank0 } = await pair(150)
    const started = performance.now()
    await expect(rank0.exchange({ batchId: 3, stepIndex: 2 }, values(1))).rejects.toMatchObject({
      _tag: "CfgExchangeFailed",
      message: "CFG exchange with rank 1 timed out after 150 ms (batch 3, step 2)"
    })
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it("fails at once when the peer goes away mid-exchange", async () => {
    const { rank0, rank1 } = await pair(10_000)
    const started = performance.now()
    const pending = rank0.exchange({ batchId: 1, stepIndex: 0 }, values(1))
    setTimeout(() => rank1.close(), 50)
    await expect(pending).rejects.toMatchObject({ _tag: "CfgExchangeFailed", peerRank: 1, message: expect.stringContaining("lost its connection") })
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  it("closes the connection on a malformed frame and fails the exchange", async () => {
    const socketPath = join(folder, "cfg.sock")
    const rank0 = listenCfgChannel({ socketPath, peerRank: 1, exchangeTimeoutMs: 5_000 })
    opened.push(rank0)
    await rank0.ready(1_000)
    const pending = rank0.exchange({ batchId: 1, stepIndex: 0 }, values(1))
    const intruder = createConnection(socketPath)
    intruder.on("error", () => {})
    intruder.write(Buffer.from("this is not a frame, not at all"))
    await expect(pending).rejects.toMatchObject({ _tag: "CfgExchangeFailed", message: expect.stringContaining("malformed frame") })
    intruder.destroy()
  })

  it("reports a peer that is not listening as a connection failure within the bound", async () => {
    const rank1 = connectCfgChannel({ socketPath: join(folder, "nobody.sock"), peerRank: 0, exchangeTimeoutMs: 1_000 })
    opened.push(rank1)
    await expect(rank1.ready(120)).rejects.toMatchObject({ _tag: "CfgExchangeFailed", message: expect.stringContaining("CFG exchange with rank 0 could not connect") })
  })

  it("frames a header of magic, batch, step and value count before the values", () => {
    const frame = encodeFrame({ batchId: 7, stepIndex: 3 }, values(1.5))
    expect(frame.length).toBe(20)
    expect([frame.readUInt32LE(4), frame.readUInt32LE(8), frame.readUInt32LE(12), frame.readFloatLE(16)]).toEqual([7, 3, 1, 1.5])
    expect(frame.subarray(0, 4).toString("latin1")).toBe("RWCF")
  })
})

/** A fresh rank 1 end dialling the same rank 0 (a peer that came back). */
const reconnect = async (rank0: CfgSocketChannel) => {
  const rank1 = connectCfgChannel({ socketPath: join(folder, "cfg.sock"), peerRank: 0, exchangeTimeoutMs: 2_000 })
  opened.push(rank1)
  await rank1.ready(1_000)
  return { rank0, rank1 }
}

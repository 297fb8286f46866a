/**
 * The CFG channel between two rank processes: a Unix domain socket that carries each step's
 * noise prediction from one rank straight to the other, never through the executor.
 *
 * Rank 0 listens on a path the launcher chose (inside a private temporary folder, one per
 * cluster); rank 1 connects at load, retrying until rank 0 is listening or its bound passes.
 * `node:net` serves Unix sockets on Node, Bun and Deno alike. A frame is a 16-byte header of
 * little-endian uint32s (magic "RWCF", batch id, step index, value count) and then that many
 * float32 values, little-endian:
 *
 *   0      4         8           12            16
 *   | RWCF | batchId | stepIndex | valueCount | valueCount x float32 ... |
 *
 * A frame with step index 0xFFFFFFFF and no values says "I gave up on this batch": the peer's
 * exchanges for that batch then fail at once (cfg-parallel.ts `abandon`).
 *
 * One exchange runs at a time (a rank runs one batch at a time). A frame for an older step than
 * the one awaited is stale (the peer finishing a batch this rank gave up on) and is dropped; a
 * frame for a later step waits in a small bounded inbox, in case this rank is the one behind.
 *
 * Every wait is bounded: an exchange rejects with `CfgExchangeFailed` after `exchangeTimeoutMs`
 * (the peer stalled, e.g. SIGSTOP), or at once when the connection closes (the peer died). A
 * malformed frame closes the connection: the peer is not speaking this protocol.
 */
import { Buffer } from "node:buffer"
import { createConnection, createServer, type Server, type Socket } from "node:net"
import { endianness } from "node:os"
import { assert } from "../../core/assert.ts"
import { CfgExchangeFailed, type CfgExchange, type StepKey } from "../onnx/cfg-parallel.ts"

const frameMagic = 0x46435752
const headerBytes = 16
/** Frames kept for later steps; more means the peer is far ahead, and the oldest are dropped. */
const inboxFramesMax = 4
/** 64 MiB of float32 per frame: far above any latent batch this model makes. */
const frameValuesMax = 16 * 1024 * 1024
/** Pause between connection attempts while rank 0 is not listening yet. */
const connectRetryMs = 20
/** The step index of an abandon frame. */
const abandonStep = 0xffff_ffff
/** Batches the peer gave up on that this end remembers; older ones are long finished. */
const abandonedBatchesMax = 8

export interface CfgChannelOptions {
  readonly socketPath: string
  /** The other rank of the split, named in every failure. */
  readonly peerRank: number
  readonly exchangeTimeoutMs: number
}

/** One end of the channel. */
export interface CfgSocketChannel extends CfgExchange {
  /** Listening (rank 0) or connected (rank 1) within `timeoutMs`; rejects with `CfgExchangeFailed`. */
  readonly ready: (timeoutMs: number) => Promise<void>
  /** Frames dropped as stale, for overflowing the inbox, or for an abandoned batch: for tests and diagnostics. */
  readonly droppedFrames: () => number
  /** Closes the connection and the listener; a pending exchange rejects. Idempotent. */
  readonly close: () => void
}

interface Waiter {
  readonly key: StepKey
  readonly frame: Buffer
  sent: boolean
  readonly resolve: (values: Float32Array) => void
  readonly reject: (error: CfgExchangeFailed) => void
  readonly timer: ReturnType<typeof setTimeout>
}

const compareKeys = (a: StepKey, b: StepKey): number => a.batchId - b.batchId || a.stepIndex - b.stepIndex

export const encodeFrame = (key: StepKey, values: Float32Array): Buffer => {
  const frame = Buffer.alloc(headerBytes + values.byteLength)
  frame.writeUInt32LE(frameMagic, 0)
  frame.writeUInt32LE(key.batchId, 4)
  frame.writeUInt32LE(key.stepIndex, 8)
  frame.writeUInt32LE(values.length, 12)
  Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(frame, headerBytes)
  return frame
}

/**
 * The state both ends share: the current connection, the awaited exchange, the inbox, and the
 * frame decoder. `connectIfNeeded` is how an end without a connection gets one (rank 1 dials;
 * rank 0 waits for the dial).
 */
const makeEnd = (options: CfgChannelOptions, connectIfNeeded: (deadlineMs: number) => void) => {
  assert(endianness() === "LE", "frames carry float32 in the host's byte order, which must be little-endian")
  assert(options.exchangeTimeoutMs > 0, "an exchange has a positive bound")
  let socket: Socket | undefined
  let waiter: Waiter | undefined
  let pending: Buffer = Buffer.alloc(0)
  let dropped = 0
  let closed = false
  const inbox: Array<{ readonly key: StepKey; readonly values: Float32Array }> = []
  const abandoned: Array<number> = []

  const fail = (reason: string) => {
    const current = waiter
    if (current === undefined) return
    waiter = undefined
    clearTimeout(current.timer)
    current.reject(new CfgExchangeFailed({ peerRank: options.peerRank, reason, key: current.key }))
  }

  const trySend = () => {
    if (waiter === undefined || waiter.sent || socket === undefined) return
    waiter.sent = true
    socket.write(waiter.frame)
  }

  // Delivers the awaited frame if it is in the inbox; drops what is older than it.
  const settleFromInbox = () => {
    if (waiter === undefined) return
    for (let index = inbox.length - 1; index >= 0; index--) {
      const order = compareKeys(inbox[index].key, waiter.key)
      if (order > 0) continue
      const [entry] = inbox.splice(index, 1)
      if (order < 0) {
        dropped++
        continue
      }
      const current = waiter
      waiter = undefined
      clearTimeout(current.timer)
      current.resolve(entry.values)
      return
    }
  }

  const peerAbandoned = (batchId: number) => {
    if (!abandoned.includes(batchId)) abandoned.push(batchId)
    if (abandoned.length > abandonedBatchesMax) abandoned.shift()
    for (let index = inbox.length - 1; index >= 0; index--) {
      if (inbox[index].key.batchId !== batchId) continue
      inbox.splice(index, 1)
      dropped++
    }
    if (waiter?.key.batchId === batchId) fail("failed: the peer gave up on this batch")
  }

  const received = (key: StepKey, values: Float32Array) => {
    if (key.stepIndex === abandonStep) return peerAbandoned(key.batchId)
    if (abandoned.includes(key.batchId) || (waiter !== undefined && compareKeys(key, waiter.key) < 0)) return void dropped++
    inbox.push({ key, values })
    if (inbox.length > inboxFramesMax) {
      inbox.sort((a, b) => compareKeys(a.key, b.key))
      inbox.shift()
      dropped++
    }
    settleFromInbox()
  }

  // Splits the byte stream into frames; anything but a well-formed frame ends the connection.
  const decode = (chunk: Buffer, from: Socket) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= headerBytes) {
      const valueCount = pending.readUInt32LE(12)
      if (pending.readUInt32LE(0) !== frameMagic || valueCount > frameValuesMax) {
        from.destroy()
        return fail("sent a malformed frame")
      }
      const frameBytes = headerBytes + valueCount * 4
      if (pending.length < frameBytes) return
      const values = new Float32Array(valueCount)
      pending.copy(Buffer.from(values.buffer), 0, headerBytes, frameBytes)
      const key = { batchId: pending.readUInt32LE(4), stepIndex: pending.readUInt32LE(8) }
      pending = pending.subarray(frameBytes)
      received(key, values)
    }
  }

  const attach = (next: Socket) => {
    if (closed) return void next.destroy()
    // One peer: a new connection replaces the old one (a peer that reconnected).
    socket?.destroy()
    socket = next
    pending = Buffer.alloc(0)
    next.setNoDelay?.(true)
    next.on("data", (chunk: Buffer) => decode(chunk, next))
    next.on("error", () => {})
    next.on("close", () => {
      if (socket !== next) return
      socket = undefined
      fail("lost its connection (the peer closed it or died)")
    })
    trySend()
  }

  const exchange = (key: StepKey, mine: Float32Array): Promise<Float32Array> =>
    new Promise((resolve, reject) => {
      assert(waiter === undefined, "one exchange at a time")
      if (closed) return reject(new CfgExchangeFailed({ peerRank: options.peerRank, reason: "is closed on this rank", key }))
      if (abandoned.includes(key.batchId)) return reject(new CfgExchangeFailed({ peerRank: options.peerRank, reason: "failed: the peer gave up on this batch", key }))
      const timer = setTimeout(() => fail(`timed out after ${options.exchangeTimeoutMs} ms`), options.exchangeTimeoutMs)
      waiter = { key, frame: encodeFrame(key, mine), sent: false, resolve, reject, timer }
      // Send before looking in the inbox: the peer's frame may be there already, and the peer
      // still needs ours.
      if (socket === undefined) connectIfNeeded(performance.now() + options.exchangeTimeoutMs)
      trySend()
      settleFromInbox()
    })

  // Best effort: without a connection the peer learns nothing, and its bound still holds.
  const abandon = (batchId: number) => {
    if (socket !== undefined && !closed) socket.write(encodeFrame({ batchId, stepIndex: abandonStep }, new Float32Array(0)))
  }

  const close = () => {
    closed = true
    socket?.destroy()
    socket = undefined
    fail("is closed on this rank")
  }

  return { attach, exchange, abandon, close, isConnected: () => socket !== undefined, isClosed: () => closed, droppedFrames: () => dropped }
}

/** Rank 0's end: listens on `socketPath` at once, accepts the peer whenever it dials. */
export const listenCfgChannel = (options: CfgChannelOptions): CfgSocketChannel => {
  const end = makeEnd(options, () => {})
  const server: Server = createServer((socket) => end.attach(socket))
  let listenError: Error | undefined
  const listening = new Promise<void>((resolve) => {
    server.once("listening", () => resolve())
    server.once("error", (error) => {
      listenError = error
      resolve()
    })
  })
  server.listen(options.socketPath)
  const ready = async (timeoutMs: number) => {
    const outcome = await Promise.race([listening.then(() => "done" as const), delay(timeoutMs).then(() => "late" as const)])
    if (outcome === "late" || listenError !== undefined) {
      throw new CfgExchangeFailed({
        peerRank: options.peerRank,
        reason: `cannot listen on ${options.socketPath}: ${listenError?.message ?? `not listening after ${timeoutMs} ms`}`,
        key: undefined
      })
    }
  }
  return {
    exchange: end.exchange,
    abandon: end.abandon,
    ready,
    droppedFrames: end.droppedFrames,
    close: () => {
      end.close()
      server.close()
    }
  }
}

/** Rank 1's end: dials rank 0, retrying while it is not listening yet; redials after a loss. */
export const connectCfgChannel = (options: CfgChannelOptions): CfgSocketChannel => {
  let dialing: Promise<boolean> | undefined
  const dial = (deadlineMs: number): Promise<boolean> => (dialing ??= dialUntil(options.socketPath, deadlineMs, () => end.isClosed())
    .then((socket) => {
      dialing = undefined
      if (socket === undefined) return false
      end.attach(socket)
      return true
    }))
  const end = makeEnd(options, (deadlineMs) => void dial(deadlineMs))
  const ready = async (timeoutMs: number) => {
    if (end.isConnected()) return
    if (!(await dial(performance.now() + timeoutMs))) {
      throw new CfgExchangeFailed({ peerRank: options.peerRank, reason: `could not connect to ${options.socketPath} within ${timeoutMs} ms`, key: undefined })
    }
  }
  return { exchange: end.exchange, abandon: end.abandon, ready, droppedFrames: end.droppedFrames, close: end.close }
}

/** A connected socket, or undefined once the deadline passes (or the end closes) first. */
const dialUntil = async (path: string, deadlineMs: number, closed: () => boolean): Promise<Socket | undefined> => {
  while (!closed()) {
    const socket = await dialOnce(path)
    if (socket !== undefined) return socket
    if (performance.now() + connectRetryMs > deadlineMs) return undefined
    await delay(connectRetryMs)
  }
  return undefined
}

const dialOnce = (path: string): Promise<Socket | undefined> =>
  new Promise((resolve) => {
    const socket = createConnection(path)
    socket.once("connect", () => {
      socket.removeAllListeners("error")
      resolve(socket)
    })
    socket.once("error", () => {
      socket.destroy()
      resolve(undefined)
    })
  })

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The IPC RankTransport and the rank's serving loop, below the executor.
 *
 * Goal: both sides of the wire decode what they receive and answer bad input with types, never
 * by crashing: a rank answers an unknown method with `UnknownMethod` and a malformed call with
 * `MalformedMessage` and keeps serving; an envelope it cannot attribute to a wave is refused;
 * the parent turns a reply it cannot decode into a `Malformed` event. Calls are served one at a
 * time in order, and a rank's death is one `Exited` event after its replies.
 * Method: drive the transport directly (listen, send, signal) against real rank processes, and
 * against a fixture rank program that writes garbage.
 */
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { describe, expect, test } from "vitest"
import type { TransportEvent } from "../../../core/transport.ts"
import type { WorkerCall } from "../../../core/worker.ts"
import type { ProcessCluster, ProcessClusterOptions } from "../../../backends/process/cluster.ts"
import { sleep, withCluster } from "./clusters.ts"

interface Wire {
  readonly cluster: ProcessCluster
  /** Waits (bounded) until `count` events arrived; answers all of them. */
  readonly until: (count: number) => Promise<ReadonlyArray<TransportEvent>>
  readonly send: (waveId: number, call: unknown, ranks?: ReadonlyArray<number>) => Promise<ReadonlyArray<number>>
}

/** A cluster whose transport events are collected, for the length of `body`. */
const withWire = (options: ProcessClusterOptions, body: (wire: Wire) => Promise<void>) =>
  withCluster(options, async (cluster) => {
    const events: Array<TransportEvent> = []
    await Effect.runPromise(cluster.transport.listen((event) => events.push(event)))
    const until = async (count: number) => {
      const deadline = performance.now() + 5_000
      while (events.length < count && performance.now() < deadline) await sleep(10)
      return events
    }
    const send = (waveId: number, call: unknown, ranks: ReadonlyArray<number> = [0]) =>
      Effect.runPromise(cluster.transport.send({ waveId, call: call as WorkerCall }, ranks))
    await body({ cluster, until, send })
  })

const garbageRank = fileURLToPath(new URL("./fixtures/garbage-rank.ts", import.meta.url))
const replyOf = (event: TransportEvent | undefined) => (event?._tag === "Reply" ? event.reply : undefined)

describe.concurrent("a rank decodes every call", () => {
  test("an unknown method gets a typed UnknownMethod reply and the rank keeps serving", () =>
    withWire({ worldSize: 1 }, async ({ send, until }) => {
      await send(1, { method: "format_disk" })
      await send(2, { method: "checkHealth" })
      const [first, second] = await until(2)
      expect(replyOf(first)).toMatchObject({ rank: 0, waveId: 1, result: { _tag: "Failed", error: { _tag: "UnknownMethod", method: "format_disk" } } })
      expect(replyOf(second)).toMatchObject({ waveId: 2, result: { _tag: "Ok", value: { rank: 0 } } })
    }))

  test("a malformed call gets a typed MalformedMessage reply naming the field, and the rank keeps serving", () =>
    withWire({ worldSize: 1 }, async ({ send, until }) => {
      await send(1, { method: "sleep", level: 7 })
      await send(2, "not a call")
      await send(3, { method: "listLoras" })
      const [first, second, third] = await until(3)
      const firstReply = replyOf(first)
      expect(firstReply?.result).toMatchObject({ _tag: "Failed", error: { _tag: "MalformedMessage" } })
      expect(firstReply?.result._tag === "Failed" && firstReply.result.error.message).toContain("level")
      expect(replyOf(second)?.result).toMatchObject({ _tag: "Failed", error: { _tag: "MalformedMessage" } })
      expect(replyOf(third)).toMatchObject({ waveId: 3, result: { _tag: "Ok", value: [] } })
    }))

  test("a decoded error is the real error class again, with its message", () =>
    withWire({ worldSize: 1, model: { lora: false } }, async ({ send, until }) => {
      await send(1, { method: "listLoras" })
      const [event] = await until(1)
      const reply = replyOf(event)
      expect(reply?.result._tag === "Failed" && reply.result.error.message).toBe("listLoras: this model does not support LoRA adapters")
    }))

  test("an envelope without a wave id is refused: the parent counts a Malformed event, and the rank lives", () =>
    withWire({ worldSize: 1 }, async ({ cluster, send, until }) => {
      expect(cluster.sendRaw(0, { t: "wave", call: { method: "checkHealth" } })).toBe(true)
      expect(cluster.sendRaw(0, 42)).toBe(true)
      await send(5, { method: "checkHealth" })
      const events = await until(3)
      expect(events.slice(0, 2).map((event) => event._tag)).toEqual(["Malformed", "Malformed"])
      expect(events[0]._tag === "Malformed" && events[0].reason).toContain("refused")
      expect(replyOf(events[2])).toMatchObject({ waveId: 5, result: { _tag: "Ok" } })
      expect(cluster.exitOf(0)).toBeNull()
    }))
})

describe.concurrent("the parent decodes every reply", () => {
  test("replies no schema accepts become Malformed events; the good reply after them is delivered", () =>
    withWire({ worldSize: 1, entry: garbageRank }, async ({ send, until }) => {
      await send(4, { method: "checkHealth" })
      const events = await until(4)
      expect(events.map((event) => event._tag)).toEqual(["Malformed", "Malformed", "Malformed", "Reply"])
      expect(replyOf(events[3])).toEqual({ rank: 0, waveId: 4, result: { _tag: "Ok", value: "good" } })
    }))
})

describe.concurrent("serving order and exits", () => {
  test("a rank serves its calls one at a time, in order: a slow call holds up the next", () =>
    withWire({ worldSize: 1 }, async ({ cluster, send, until }) => {
      await Effect.runPromise(cluster.faults.inject({ rank: 0, method: "listLoras", kind: "slow", delayMs: 300, count: 1 }))
      await send(1, { method: "listLoras" })
      await send(2, { method: "checkHealth" })
      const events = await until(2)
      expect(events.map((event) => replyOf(event)?.waveId)).toEqual([1, 2])
    }))

  test("a rank's graceful shutdown is its reply, then one Exited event with code 0; later sends answer it unreachable", () =>
    withWire({ worldSize: 2 }, async ({ send, until }) => {
      await send(1, { method: "shutdown" }, [1])
      const events = await until(2)
      expect(events[0]).toMatchObject({ _tag: "Reply", reply: { rank: 1, waveId: 1 } })
      expect(events[1]).toEqual({ _tag: "Exited", rank: 1, exit: { code: 0, signal: null, reason: "shutdown" } })
      expect(await send(2, { method: "checkHealth" }, [0, 1])).toEqual([1])
    }))

  test("signal terminate is a real SIGTERM, reported as the rank's exit", () =>
    withWire({ worldSize: 1 }, async ({ cluster, until }) => {
      await Effect.runPromise(cluster.transport.signal(0, "terminate"))
      const [event] = await until(1)
      expect(event).toEqual({ _tag: "Exited", rank: 0, exit: { code: null, signal: "SIGTERM", reason: "SIGTERM" } })
    }))
})

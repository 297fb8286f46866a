/**
 * The rank's serving loop, in process, with a fake process around it.
 *
 * Goal: the order of what a rank writes is the contract the parent relies on: replies in call
 * order, a state report before the reply of a call that changed state, an `exiting` note confirmed
 * by the parent before an exit (or the bound passed), nothing after it. Method: a rank host over the simulated worker and a fake
 * `RankIo` that records every write and exit; faults come from the same fault points the rank
 * process uses. No process is started, so this runs in milliseconds.
 */
import { describe, expect, test } from "vitest"
import type { FaultSpec } from "../../../backends/sim/faults.ts"
import type { RankWireMessage } from "../../../backends/process/protocol.ts"
import { makeRankFaults } from "../../../backends/process/rank-faults.ts"
import { makeRankHost } from "../../../backends/process/rank-host.ts"
import { workerFactories } from "../../../backends/process/worker-kinds.ts"
import { eventually } from "./clusters.ts"

const makeFakeRank = (faults: ReadonlyArray<FaultSpec> = [], exitConfirmed: Promise<void> = Promise.resolve()) => {
  const written: Array<RankWireMessage | { readonly t: "exit"; readonly code: number }> = []
  const holds: Array<boolean> = []
  const rankFaults = makeRankFaults(0, faults)
  const hosted = workerFactories.sim({ rank: 0, worldSize: 1, outputRank: 0, workerKind: "sim", model: {}, faults })
  const host = makeRankHost(0, hosted, rankFaults, {
    post: (message) => void written.push(message),
    noteExit: (reason) => {
      written.push({ t: "exiting", reason })
      return exitConfirmed
    },
    exit: (code) => void written.push({ t: "exit", code }),
    holdTerminate: (hold) => void holds.push(hold),
    report: () => {}
  })
  let waveId = 0
  const call = (body: unknown) => host.receive({ t: "wave", waveId: ++waveId, call: body })
  const kinds = () => written.map((message) => message.t === "reply" ? `reply ${message.waveId} ${message.result._tag}` : message.t)
  return { host, call, written, kinds, holds, faults: rankFaults }
}

describe("a rank host", () => {
  test("answers a synchronous call within the message's own event", () => {
    const rank = makeFakeRank()
    rank.call({ method: "checkHealth" })
    expect(rank.kinds()).toEqual(["reply 1 Ok"])
  })

  test("reports its state before the reply of a call that changed it", () => {
    const rank = makeFakeRank()
    rank.call({ method: "load" })
    rank.call({ method: "addLora", adapter: { id: 3, name: "a" } })
    expect(rank.kinds()).toEqual(["state", "reply 1 Ok", "state", "reply 2 Ok"])
    expect(rank.written[2]).toMatchObject({ t: "state", state: { loaded: true, loras: [3] } })
  })

  test("keeps call order behind a slow call", async () => {
    const rank = makeFakeRank([{ rank: 0, method: "listLoras", kind: "slow", delayMs: 30, count: 1 }])
    rank.call({ method: "listLoras" })
    rank.call({ method: "checkHealth" })
    expect(rank.kinds()).toEqual([])
    await eventually(() => rank.written.length === 2, 2_000)
    expect(rank.kinds()).toEqual(["reply 1 Ok", "reply 2 Ok"])
  })

  test("a hung call holds later calls until heal, then both answer in order; control messages pass meanwhile", async () => {
    const rank = makeFakeRank([{ rank: 0, method: "listLoras", kind: "hang" }])
    rank.call({ method: "listLoras" })
    rank.call({ method: "checkHealth" })
    rank.host.receive({ t: "control", id: 7, op: "truth" })
    expect(rank.kinds()).toEqual(["control"])
    rank.host.receive({ t: "control", id: 8, op: "heal" })
    await eventually(() => rank.written.length === 4, 2_000)
    expect(rank.kinds()).toEqual(["control", "control", "reply 1 Ok", "reply 2 Ok"])
  })

  test("crashAfterApply reports the new state, flushes its exiting note, exits 1, and answers nothing after", async () => {
    const rank = makeFakeRank([{ rank: 0, method: "addLora", kind: "crashAfterApply", count: 1 }])
    rank.call({ method: "addLora", adapter: { id: 2, name: "b" } })
    rank.call({ method: "checkHealth" })
    await eventually(() => rank.written.some((message) => message.t === "exit"), 2_000)
    expect(rank.kinds()).toEqual(["state", "exiting", "exit"])
    expect(rank.written.at(-1)).toEqual({ t: "exit", code: 1 })
  })

  test("an exiting rank answers nothing while it waits for its note to be confirmed", async () => {
    let confirm: () => void = () => {}
    const rank = makeFakeRank([], new Promise<void>((resolve) => { confirm = resolve }))
    rank.call({ method: "shutdown" })
    rank.call({ method: "checkHealth" })
    rank.host.receive({ t: "control", id: 1, op: "truth" })
    rank.host.receive({ junk: true })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(rank.kinds()).toEqual(["reply 1 Ok", "exiting"])
    confirm()
    await eventually(() => rank.written.length === 3, 2_000)
    expect(rank.kinds()).toEqual(["reply 1 Ok", "exiting", "exit"])
  })

  test("an exitNoted that reaches the host is ignored, not refused", () => {
    const rank = makeFakeRank()
    rank.host.receive({ t: "exitNoted" })
    expect(rank.kinds()).toEqual([])
  })

  test("shutdown replies, then exits 0 with the note 'shutdown'", async () => {
    const rank = makeFakeRank()
    rank.call({ method: "shutdown" })
    await eventually(() => rank.written.length === 3, 2_000)
    expect(rank.written).toEqual([
      { t: "reply", waveId: 1, result: { _tag: "Ok", value: undefined } },
      { t: "exiting", reason: "shutdown" },
      { t: "exit", code: 0 }
    ])
  })

  test("an ignoreTerminate fault holds SIGTERM while it lasts: installed at start, released by heal, counted per signal", () => {
    const rank = makeFakeRank([{ rank: 0, kind: "ignoreTerminate", count: 2 }])
    expect(rank.holds).toEqual([true])
    expect([rank.faults.resistTerminate(), rank.faults.resistTerminate(), rank.faults.resistTerminate()]).toEqual([true, true, false])
    rank.host.receive({ t: "control", id: 1, op: "heal" })
    expect(rank.holds).toEqual([true, false])
  })

  test("a fault addressed to another rank is refused, not applied", () => {
    const rank = makeFakeRank()
    rank.host.receive({ t: "control", id: 4, op: "inject", fault: { rank: 3, method: "load", kind: "throw" } })
    expect(rank.written).toEqual([{ t: "control", id: 4, ok: false, reason: "fault for rank 3 reached rank 0" }])
    rank.call({ method: "load" })
    expect(rank.kinds().at(-1)).toBe("reply 1 Ok")
  })
})

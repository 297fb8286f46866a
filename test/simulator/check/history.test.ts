// Goal: the history records every operation once, from invocation to completion, and turns each
// answer into Jepsen's per-rank statuses (ok, fail, info) without losing a rank or inventing one.
// Method: invoke and complete entries with fabricated exits (real core error classes carrying
// hand-written outcomes), then read the entries back. No engine, no clock.
import { Exit } from "effect"
import { describe, expect, test } from "vitest"
import { InvariantViolation } from "../../../core/assert.ts"
import { CollectiveRpcError, type RankOutcome, RankDivergence } from "../../../core/control.ts"
import { ControlFailed, LoraInvalid, ModelError } from "../../../core/errors.ts"
import { makeHistory } from "../../../simulator/history.ts"

const exit = { code: 1, signal: null, reason: "crashed (injected)" }
const outcomes: ReadonlyArray<RankOutcome<unknown, unknown>> = [
  { _tag: "Ok", rank: 0, value: { adapterId: 3, boundLayers: 16 }, elapsedMs: 1 },
  { _tag: "Failed", rank: 1, error: new LoraInvalid({ adapterId: 3, reason: "binds no layer" }) },
  { _tag: "TimedOut", rank: 2, afterMs: 500 },
  { _tag: "Crashed", rank: 3, exit },
  { _tag: "Unreached", rank: 4, reason: "mailbox full" }
]

describe("history", () => {
  test("entries are numbered from 1 in invocation order and stay pending until completed", () => {
    const history = makeHistory({ worldSize: 2 })
    const first = history.invoke("listLoras", {}, 0)
    const second = history.invoke("abort", { requestId: "r1" }, 5)
    expect([first.id, second.id]).toEqual([1, 2])
    expect(history.pending()).toEqual([first, second])
    history.complete(second, Exit.void, 7)
    expect(history.pending()).toEqual([first])
    expect(history.entries()).toEqual([first, second])
    expect(second).toMatchObject({ ok: true, completedAtMs: 7 })
  })

  test("a ControlFailed gives one status per outcome: Ok ok, Failed and Unreached fail, TimedOut and Crashed info", () => {
    const history = makeHistory({ worldSize: 5 })
    const entry = history.invoke("addLora", { adapter: { id: 3, name: "a" } }, 0)
    const result = { method: "addLora", waveId: 7, outcomes }
    history.complete(entry, Exit.fail(new ControlFailed({ operation: "addLora", result, compensation: undefined, divergentRanks: [] })), 500)
    expect(entry.ok).toBe(false)
    expect(entry.errorTag).toBe("ControlFailed")
    expect(entry.ranks).toEqual([
      { rank: 0, status: "ok", tag: "Ok" },
      { rank: 1, status: "fail", tag: "LoraInvalid" },
      { rank: 2, status: "info", tag: "TimedOut" },
      { rank: 3, status: "info", tag: "Crashed" },
      { rank: 4, status: "fail", tag: "Unreached" }
    ])
  })

  test("a CollectiveRpcError names the worker error of each Failed rank", () => {
    const history = makeHistory({ worldSize: 2 })
    const entry = history.invoke("checkHealth", {}, 0)
    const failed: ReadonlyArray<RankOutcome<unknown, unknown>> = [
      { _tag: "Failed", rank: 0, error: new ModelError({ reason: "injected" }) },
      { _tag: "Ok", rank: 1, value: {}, elapsedMs: 0 }
    ]
    history.complete(entry, Exit.fail(new CollectiveRpcError({ result: { method: "checkHealth", waveId: 1, outcomes: failed } })), 1)
    expect(entry.ranks?.map((rank) => `${rank.status}:${rank.tag}`)).toEqual(["fail:ModelError", "ok:Ok"])
    expect(entry.errorMessage).toContain("rank 0 Failed")
  })

  test("a successful removeLora marks the already-absent ranks fail with LoraNotFound and every other rank ok", () => {
    const history = makeHistory({ worldSize: 3 })
    const entry = history.invoke("removeLora", { adapterId: 2 }, 0)
    history.complete(entry, Exit.succeed({ adapterId: 2, removedRanks: [0, 2], alreadyAbsentRanks: [1] }), 3)
    expect(entry.ranks).toEqual([
      { rank: 0, status: "ok", tag: "Ok" },
      { rank: 1, status: "fail", tag: "LoraNotFound" },
      { rank: 2, status: "ok", tag: "Ok" }
    ])
  })

  test("a successful wakeUp marks the already-awake ranks fail with NotAsleep", () => {
    const history = makeHistory({ worldSize: 2 })
    const entry = history.invoke("wakeUp", { tags: ["weights"] }, 0)
    history.complete(entry, Exit.succeed({ tags: ["weights"], restoredBytes: 10, alreadyAwakeRanks: [0] }), 1)
    expect(entry.ranks?.map((rank) => rank.status)).toEqual(["fail", "ok"])
  })

  test("a listLoras that diverged was answered by every rank: all ok, the aggregate failed", () => {
    const history = makeHistory({ worldSize: 3 })
    const entry = history.invoke("listLoras", {}, 0)
    const groups = [{ ranks: [0, 2], value: [1] }, { ranks: [1], value: [] }]
    history.complete(entry, Exit.fail(new RankDivergence({ method: "listLoras", waveId: 4, groups })), 1)
    expect(entry.errorTag).toBe("RankDivergence")
    expect(entry.ranks?.map((rank) => `${rank.rank}:${rank.status}`)).toEqual(["0:ok", "1:ok", "2:ok"])
  })

  test("operations that are not all-rank control calls carry no per-rank statuses on success", () => {
    const history = makeHistory({ worldSize: 2 })
    const entry = history.invoke("submit", { request: { requestId: "r" }, wait: true }, 0)
    history.complete(entry, Exit.succeed({ requestId: "r", batchId: 1, output: {} }), 4)
    expect(entry.ranks).toBeUndefined()
  })

  test("a defect is recorded as the tag Defect, an interruption as Interrupted", () => {
    const history = makeHistory({ worldSize: 1 })
    const died = history.invoke("sleep", { level: 1 }, 0)
    history.complete(died, Exit.die(new InvariantViolation("boom")), 0)
    const interrupted = history.invoke("sleep", { level: 1 }, 0)
    history.complete(interrupted, Exit.interrupt(), 0)
    expect([died.errorTag, interrupted.errorTag]).toEqual(["Defect", "Interrupted"])
  })

  test("completing an entry twice, or before its invocation, is an invariant violation", () => {
    const history = makeHistory({ worldSize: 1 })
    const entry = history.invoke("heal", {}, 10)
    expect(() => history.complete(entry, Exit.void, 9)).toThrow(InvariantViolation)
    history.complete(entry, Exit.void, 10)
    expect(() => history.complete(entry, Exit.void, 11)).toThrow(InvariantViolation)
  })

  test("entriesMax bounds the history: one invocation past it is an invariant violation", () => {
    const history = makeHistory({ worldSize: 1, entriesMax: 2 })
    history.invoke("heal", {}, 0)
    history.invoke("heal", {}, 0)
    expect(() => history.invoke("heal", {}, 0)).toThrow(InvariantViolation)
  })
})

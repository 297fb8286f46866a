import { describe, expect, test } from "vitest"
import * as rankwise from "../../index.ts"

const api = rankwise as Record<string, unknown>

const missing = (names: ReadonlyArray<string>) => names.filter((n) => api[n] === undefined)

describe("public exports of index.ts", () => {
  test("core/errors: worker and executor/engine errors", () => {
    expect(missing([
      "ModelLoadError", "OutOfMemory", "ModelError", "WorkerAsleep", "AlreadyAsleep", "IncompleteWake", "NotAsleep",
      "LoraUnsupported", "LoraInvalid", "LoraNotFound", "Unhealthy", "UnknownMethod", "MalformedMessage", "WorkerError",
      "ExecutorDead", "ExecutorClosed", "EngineClosed", "EngineAsleep", "EngineDegraded", "QueueFull",
      "DuplicateRequest", "UnknownRequest", "RequestAborted", "InvalidRequest", "OutputContractError"
    ])).toEqual([])
  })

  test("core/control: aggregators, collective errors and outcome helpers", () => {
    expect(missing([
      "all", "and", "sum", "agree", "fromRank", "CollectiveRpcError", "RankDivergence", "isIndefinite", "describeOutcome"
    ])).toEqual([])
    expect(rankwise.agree<number>().name).toBe("agree")
  })

  test("core/request: decoding and defaults", () => {
    expect(missing(["decodeRequest", "compatibilityKey", "DiffusionRequestInput", "defaultRequestLimits", "outputTypes"])).toEqual([])
  })

  test("core/worker: Worker tag, WorkerCall, dispatch, workerMethods", () => {
    expect(missing(["Worker", "WorkerCall", "dispatch", "workerMethods", "memoryTags"])).toEqual([])
    expect(rankwise.workerMethods.length).toBeGreaterThan(0)
  })

  test("core/transport: RankTransport tag", () => {
    expect(missing(["RankTransport"])).toEqual([])
  })

  test("core/random: seeded randomness", () => {
    expect(missing(["Randomness", "makePrng", "makeStream", "makeRandomness", "layerRandomness", "hashName"])).toEqual([])
  })

  test("core/assert: invariant checks", () => {
    expect(missing(["assert", "InvariantViolation"])).toEqual([])
  })

  test("core/output: output envelopes", () => {
    expect(missing(["fromLegacy", "splitPerPrompt"])).toEqual([])
  })
})

describe("test runner runtime", () => {
  // scripts/test-all.sh sets RANKWISE_EXPECT_RUNTIME per run, so a Bun or Deno run that silently
  // fell back to Node (e.g. `bunx vitest` without --bun) fails here.
  const detected =
    typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" ? "bun"
    : typeof (globalThis as { Deno?: unknown }).Deno !== "undefined" ? "deno"
    : "node"
  const expected = process.env.RANKWISE_EXPECT_RUNTIME

  test.skipIf(expected === undefined || expected === "")(`runs on ${expected ?? "(any)"}`, () => {
    expect(detected).toBe(expected)
  })
})

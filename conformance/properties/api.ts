/**
 * API-1 and API-2: the typed answers of the control API where upstream crashed or lied.
 *
 * API-1. A model without a LoRA manager crashed upstream with an AttributeError on the first LoRA
 * call. Method: every LoRA operation on such a model must fail with a typed error (an Exit Fail,
 * never a defect) whose per-rank outcomes are all `LoraUnsupported`, and the engine keeps serving.
 *
 * API-2. Sleep reported nothing per rank, and a wake with tags that left a pool asleep "worked"
 * and produced corrupted outputs. Method: sleep must report freed bytes per rank and in total;
 * a wake whose tags miss a sleeping pool must fail with `IncompleteWake` on every rank and leave
 * the engine (and the ranks) asleep; a full wake succeeds, and a second full wake is a no-op.
 */
import type { Effect } from "effect"
import * as fc from "fast-check"
import type { ClusterHarness } from "../../backends/harness.ts"
import type { CollectiveResult } from "../../core/control.ts"
import type { EngineShape } from "../../core/engine.ts"
import { memoryTags, type SleepLevel } from "../../core/worker.ts"
import { describeCause, failureOf, fail, hasDefect, settle, snapshot, succeed, tagOf, withCluster } from "../cluster.ts"
import { clusterShape, validRequest } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

type LoraOperation = "addLora" | "removeLora" | "pinLora" | "listLoras"

const loraOperation = (engine: EngineShape, operation: LoraOperation, adapterId: number): Effect.Effect<unknown, unknown> => {
  switch (operation) {
    case "addLora": return engine.addLora({ id: adapterId, name: `adapter-${adapterId}` })
    case "removeLora": return engine.removeLora(adapterId)
    case "pinLora": return engine.pinLora(adapterId)
    case "listLoras": return engine.listLoras()
  }
}

/** The per-rank outcomes a typed control error carries (ControlFailed and CollectiveRpcError both do). */
const outcomesOf = (error: unknown): CollectiveResult<unknown, unknown>["outcomes"] | undefined =>
  (error as { readonly result?: CollectiveResult<unknown, unknown> } | null)?.result?.outcomes

/** Every rank answered Failed with `errorTag`. */
const everyRankFailedWith = (error: unknown, errorTag: string, worldSize: number): string | undefined => {
  const outcomes = outcomesOf(error)
  if (outcomes === undefined) return `the error carries no per-rank outcomes`
  const wrong = outcomes.filter((outcome) => !(outcome._tag === "Failed" && tagOf(outcome.error) === errorTag))
  if (outcomes.length !== worldSize) return `${outcomes.length} outcomes for ${worldSize} ranks`
  return wrong.length === 0 ? undefined : `ranks ${wrong.map((outcome) => `${outcome.rank} ${outcome._tag}`).join(", ")} did not answer ${errorTag}`
}

const noLoraCase = clusterShape().chain((shape) =>
  fc.record({
    ranks: fc.constant(shape.ranks),
    seed: fc.constant(shape.seed),
    operations: fc.shuffledSubarray<LoraOperation>(["addLora", "removeLora", "pinLora", "listLoras"], { minLength: 1 }),
    adapterId: fc.integer({ min: 1, max: 64 })
  }))

export const loraUnsupportedIsTyped: ConformanceProperty = {
  id: "API-1",
  statement: "on a model without LoRA every LoRA operation fails with LoraUnsupported on every rank, never a defect, and the engine keeps serving",
  needs: { modelOptions: ["lora"] },
  run: (factory, options) =>
    fc.asyncProperty(noLoraCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed, model: { lora: false } }, async (harness) => {
        for (const operation of testCase.operations) {
          const exit = await settle(harness, operation, loraOperation(harness.engine, operation, testCase.adapterId))
          expectThat(!hasDefect(exit), `${operation} on a model without LoRA died instead of failing with a typed error: ${exit._tag === "Failure" ? describeCause(exit.cause) : ""}`)
          const error = failureOf(exit)
          expectThat(error !== undefined, `${operation} on a model without LoRA must fail, it succeeded`)
          const problem = everyRankFailedWith(error.value, "LoraUnsupported", harness.worldSize)
          expectThat(problem === undefined, `${operation} failed with ${tagOf(error.value)}, but ${problem}`)
        }
        await succeed(harness, "a request after the LoRA calls", harness.engine.submit(validRequest("after-lora-calls")))
      }))
}

const sleepCase = fc.record({
  ranks: fc.integer({ min: 1, max: 5 }),
  seed: fc.nat({ max: 0x7fff_ffff }),
  level: fc.constantFrom<SleepLevel>(1, 2),
  kvCacheBytes: fc.integer({ min: 1, max: 2 ** 30 })
})

const checkSleepLevel = async (harness: ClusterHarness, level: SleepLevel | null, after: string) => {
  const now = await snapshot(harness)
  const wrong = now.truth.filter((rank) => rank.sleepLevel !== level).map((rank) => `rank ${rank.rank} at ${rank.sleepLevel ?? "awake"}`)
  expectThat(wrong.length === 0, `after ${after} every rank must be ${level === null ? "awake" : `asleep at level ${level}`}: ${wrong.join(", ")}`)
  const state = level === null ? "ready" : "asleep"
  expectThat(now.state === state, `after ${after} the engine must be ${state}, it is ${now.state}`)
}

export const sleepAndWakeAreExact: ConformanceProperty = {
  id: "API-2",
  statement: "sleep reports freed bytes per rank and in total, a wake that misses a sleeping pool fails with IncompleteWake and leaves everything asleep, and a second wake is a no-op",
  needs: { modelOptions: ["kvCacheBytes"] },
  run: (factory, options) =>
    fc.asyncProperty(sleepCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed, model: { kvCacheBytes: testCase.kvCacheBytes } }, async (harness) => {
        const summary = await succeed(harness, `sleep(${testCase.level})`, harness.engine.sleep(testCase.level))
        const byRank = summary.freedBytesByRank
        expectThat(JSON.stringify(byRank.map((entry) => entry.rank)) === JSON.stringify([...Array(harness.worldSize).keys()]), `sleep reports freed bytes for ranks ${byRank.map((entry) => entry.rank).join(", ")}, expected every rank once`)
        const sum = byRank.reduce((total, entry) => total + entry.freedBytes, 0)
        expectThat(summary.freedBytesTotal === sum, `sleep reports ${summary.freedBytesTotal} bytes freed in total, the ranks report ${sum}`)
        expectThat(byRank.every((entry) => entry.freedBytes > 0), `every rank frees its pools, yet some report 0 bytes: ${JSON.stringify(byRank)}`)
        await checkSleepLevel(harness, testCase.level, "sleep")
        const error = await fail(harness, "wakeUp([weights]) while kv_cache sleeps", harness.engine.wakeUp(["weights"]))
        const problem = everyRankFailedWith(error, "IncompleteWake", harness.worldSize)
        expectThat(problem === undefined, `wakeUp([weights]) failed with ${tagOf(error)}, but ${problem}`)
        await checkSleepLevel(harness, testCase.level, "an incomplete wake")
        await succeed(harness, "a full wakeUp", harness.engine.wakeUp(memoryTags))
        await checkSleepLevel(harness, null, "a full wake")
        const again = await succeed(harness, "a second full wakeUp", harness.engine.wakeUp(memoryTags))
        expectThat(again.alreadyAwakeRanks.length === harness.worldSize, `a second wake must find every rank awake, it reports ${JSON.stringify(again)}`)
        await checkSleepLevel(harness, null, "a second wake")
      }))
}

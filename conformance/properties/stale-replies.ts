/**
 * AGG-4: no stale reply is ever delivered.
 *
 * A call that timed out does not stop its rank: the late reply still arrives. Upstream matched
 * replies to calls by arrival order, so that late reply became the answer to the *next* call.
 * Method: ranks answer a first call late (twice its deadline); a second call with a different
 * method goes out at once, so the late replies arrive while it is pending. Every Ok value of both
 * calls must be an answer to its own call: a `Health` naming the rank it came from, or a list of
 * adapter ids.
 */
import * as fc from "fast-check"
import type { ClusterHarness } from "../../backends/harness.ts"
import type { CollectiveResult } from "../../core/control.ts"
import type { WorkerError } from "../../core/errors.ts"
import { succeed, withCluster } from "../cluster.ts"
import { faultSpecOf, injectAll, rankSubset, showRanks, worldSizeMax } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

type ReadMethod = "checkHealth" | "listLoras"

const staleCase = fc.integer({ min: 1, max: worldSizeMax }).chain((ranks) =>
  fc.record({
    ranks: fc.constant(ranks),
    seed: fc.nat({ max: 0x7fff_ffff }),
    lateRanks: rankSubset(ranks, 1),
    firstMethod: fc.constantFrom<ReadMethod>("listLoras", "checkHealth"),
    timeoutMs: fc.integer({ min: 20, max: 300 })
  }))

/** Whether `value` can be what `rank` answered to `method`. */
const answersCall = (method: ReadMethod, rank: number, value: unknown): boolean => {
  if (method === "listLoras") return Array.isArray(value) && value.every((id) => typeof id === "number")
  const health = value as { readonly rank?: unknown; readonly loras?: unknown } | null
  return typeof health === "object" && health !== null && health.rank === rank && Array.isArray(health.loras)
}

const checkAnswers = (method: ReadMethod, result: CollectiveResult<unknown, WorkerError>) => {
  for (const outcome of result.outcomes) {
    if (outcome._tag !== "Ok") continue
    expectThat(answersCall(method, outcome.rank, outcome.value),
      `rank ${outcome.rank}'s Ok value for ${method} (wave ${result.waveId}) answers another call: ${JSON.stringify(outcome.value)}`)
  }
}

const read = (harness: ClusterHarness, method: ReadMethod, timeoutMs: number) =>
  succeed(harness, method, harness.executor.collectiveResult({ method }, { timeoutMs }))

export const noStaleReplyDelivered: ConformanceProperty = {
  id: "AGG-4",
  statement: "no stale reply is ever delivered: every Ok value answers its own call",
  needs: { faultKinds: ["slow"] },
  run: (factory, options) =>
    fc.asyncProperty(staleCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        const { firstMethod, timeoutMs, lateRanks } = testCase
        const secondMethod: ReadMethod = firstMethod === "listLoras" ? "checkHealth" : "listLoras"
        await injectAll(harness, lateRanks.map((rank) => faultSpecOf(rank, firstMethod, "slowLate", timeoutMs)!))
        const first = await read(harness, firstMethod, timeoutMs)
        checkAnswers(firstMethod, first)
        const timedOut = first.outcomes.filter((outcome) => outcome._tag === "TimedOut").map((outcome) => outcome.rank)
        expectThat(JSON.stringify(timedOut) === JSON.stringify(lateRanks), `the late ranks ${showRanks(lateRanks)} must time out, got ${showRanks(timedOut)}`)
        // Sent before the late replies arrive, with room for the late ranks to answer it too.
        const second = await read(harness, secondMethod, timeoutMs * 6)
        checkAnswers(secondMethod, second)
        const notOk = second.outcomes.filter((outcome) => outcome._tag !== "Ok").map((outcome) => outcome.rank)
        expectThat(notOk.length === 0, `every rank answers ${secondMethod} in time, but ranks ${showRanks(notOk)} did not`)
        checkAnswers(firstMethod, await read(harness, firstMethod, timeoutMs * 6))
      }))
}

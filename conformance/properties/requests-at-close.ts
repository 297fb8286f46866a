/**
 * SHUT-3: every admitted request has exactly one terminal outcome, close included.
 *
 * Upstream's close stopped the engine loop and left callers of queued requests waiting forever.
 * Method: enqueue several requests of different shapes (so they run in several batches), let
 * some time pass, abort some, let more time pass, then close. Every handle's result must then
 * resolve within a budget (a request left hanging fails the property), to the same outcome each
 * time it is awaited; an `EngineClosed` outcome must be exactly the requests close reports as
 * failed, and `RequestAborted` only a request that was aborted.
 */
import { Effect, Exit } from "effect"
import * as fc from "fast-check"
import type { ClusterHarness } from "../../backends/harness.ts"
import type { CloseReport, RequestHandle } from "../../core/engine.ts"
import { describeCause, failureOf, settle, succeed, tagOf, withCluster } from "../cluster.ts"
import { validRequest } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

/** How long a request may take to resolve after close: generous, it should be at once. */
const resolveBudgetMs = 30_000

const requestPlan = fc.record({
  steps: fc.integer({ min: 1, max: 60 }),
  /** Two sizes give two compatibility keys, so requests split into several batches. */
  size: fc.constantFrom(16, 32),
  aborted: fc.boolean()
})

const requestsCase = fc.record({
  ranks: fc.integer({ min: 1, max: 4 }),
  seed: fc.nat({ max: 0x7fff_ffff }),
  requests: fc.array(requestPlan, { minLength: 1, maxLength: 6 }),
  abortAfterMs: fc.integer({ min: 0, max: 100 }),
  closeAfterMs: fc.integer({ min: 0, max: 100 }),
  closeTimeoutMs: fc.integer({ min: 50, max: 2_000 })
})

type RequestsCase = typeof requestsCase extends fc.Arbitrary<infer A> ? A : never

/** Enqueues, aborts and closes as the case says; answers the handles and the close report. */
const enqueueAbortClose = async (harness: ClusterHarness, testCase: RequestsCase) => {
  const handles = await succeed(harness, "enqueueing the requests", Effect.forEach(testCase.requests, (plan, index) =>
    harness.engine.enqueue(validRequest(`request-${index}`, { steps: plan.steps, height: plan.size, width: plan.size }))))
  await harness.advance(testCase.abortAfterMs)
  const aborted = handles.filter((_, index) => testCase.requests[index].aborted).map((handle) => handle.requestId)
  // A request that already finished is unknown to abort: that is an answer, not a failure.
  await succeed(harness, "aborting", Effect.forEach(aborted, (requestId) => Effect.ignore(harness.engine.abort(requestId)), { discard: true }))
  await harness.advance(testCase.closeAfterMs)
  const report = await succeed(harness, "close", harness.engine.close({ timeoutMs: testCase.closeTimeoutMs }))
  return { handles, aborted, report }
}

/** Awaits a handle twice: it must resolve, and to the same outcome both times. */
const terminalOutcome = async (harness: ClusterHarness, handle: RequestHandle): Promise<Exit.Exit<unknown, unknown>> => {
  const first = await settle(harness, `the outcome of ${handle.requestId}`, handle.result, resolveBudgetMs)
  const second = await settle(harness, `the outcome of ${handle.requestId}, awaited again`, handle.result, resolveBudgetMs)
  expectThat(describeExit(first) === describeExit(second), `${handle.requestId} resolved to ${describeExit(first)}, then to ${describeExit(second)}`)
  return first
}

const describeExit = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit) ? `success ${JSON.stringify(exit.value)}` : `failure ${describeCause(exit.cause)}`

const checkOutcome = (requestId: string, exit: Exit.Exit<unknown, unknown>, aborted: ReadonlyArray<string>, report: CloseReport) => {
  const tag = tagOf(failureOf(exit)?.value)
  expectThat(Exit.isSuccess(exit) || tag !== undefined, `${requestId} ended without a typed outcome: ${describeExit(exit)}`)
  const closedByClose = report.failedRequests.includes(requestId)
  expectThat((tag === "EngineClosed") === closedByClose,
    `${requestId} ended with ${tag ?? "success"}, but close ${closedByClose ? "reports" : "does not report"} it as failed`)
  if (tag === "RequestAborted") expectThat(aborted.includes(requestId), `${requestId} was never aborted, yet it ended RequestAborted`)
}

export const everyRequestEndsOnce: ConformanceProperty = {
  id: "SHUT-3",
  statement: "every admitted request ends in exactly one terminal outcome, also when aborted or cut off by close",
  run: (factory, options) =>
    fc.asyncProperty(requestsCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        const { handles, aborted, report } = await enqueueAbortClose(harness, testCase)
        const admitted = new Set(handles.map((handle) => handle.requestId))
        const strangers = report.failedRequests.filter((requestId) => !admitted.has(requestId))
        expectThat(strangers.length === 0, `close reports requests ${strangers.join(", ")} as failed, which were never admitted`)
        for (const handle of handles) checkOutcome(handle.requestId, await terminalOutcome(harness, handle), aborted, report)
      }))
}

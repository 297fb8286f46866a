/**
 * SHUT-1, SHUT-2, SHUT-4: close is bounded, truthful, convergent and idempotent.
 *
 * Upstream's close gave up after a timeout and returned as if all was well, leaving workers (and
 * their GPU memory) behind. Method: each rank may resist shutdown (hang in the graceful call,
 * ignore SIGTERM, survive SIGKILL), sometimes with an operation in flight; close must return
 * within its bound (SHUT-1), its report must match the truth read from the ranks and a retry
 * after the faults heal must converge to `closed` (SHUT-2), and once closed, close answers the
 * same report and every later call is refused with `EngineClosed` (SHUT-4).
 */
import { Clock, Duration, Effect } from "effect"
import * as fc from "fast-check"
import type { ClusterHarness, FaultSpec } from "../../backends/harness.ts"
import type { CloseReport } from "../../core/engine.ts"
import { describeError, fail, sameRanks, succeed, tagOf, timeSlackMs, withCluster } from "../cluster.ts"
import { injectAll, showRanks, validRequest, worldSizeMax } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

/**
 * How one rank meets shutdown. The graceful call alone stops a rank that answers it, so each
 * resisting behaviour starts by hanging in that call: then SIGTERM is needed (`hangInShutdown`),
 * then SIGKILL (`ignoreTerminate`), and a rank stuck in the kernel survives even that (`unkillable`).
 */
type ShutdownBehaviour = "none" | "hangInShutdown" | "ignoreTerminate" | "unkillable"
/** What is running when close is called. */
type InFlight = "nothing" | "hungControl" | "longRequest"

const shutdownFaults = (rank: number, behaviour: ShutdownBehaviour): ReadonlyArray<FaultSpec> => {
  if (behaviour === "none") return []
  const hang: FaultSpec = { rank, method: "shutdown", kind: "hang" }
  return behaviour === "hangInShutdown" ? [hang] : [hang, { rank, kind: behaviour }]
}

/**
 * Close bounds. On real processes an exit takes real milliseconds to be reported, so a bound
 * that must be enough to stop every rank starts higher there; on virtual time any bound works.
 */
const closeTimeout = (virtualTime: boolean) => fc.integer({ min: virtualTime ? 30 : 1_500, max: 3_000 })

/** `concurrentClosesMax` above 0 adds close calls made at the same time, each with its own bound. */
const closeCase = (virtualTime: boolean, behaviours: ReadonlyArray<ShutdownBehaviour>, inFlight: ReadonlyArray<InFlight>, concurrentClosesMax = 0) =>
  fc.integer({ min: 1, max: worldSizeMax }).chain((ranks) =>
    fc.record({
      ranks: fc.constant(ranks),
      seed: fc.nat({ max: 0x7fff_ffff }),
      behaviours: fc.array(fc.constantFrom(...behaviours), { minLength: ranks, maxLength: ranks }),
      inFlight: fc.constantFrom(...inFlight),
      closeTimeoutMs: closeTimeout(virtualTime),
      concurrentCloseTimeoutsMs: fc.array(closeTimeout(virtualTime), { maxLength: concurrentClosesMax })
    }))

interface CloseCase {
  readonly behaviours: ReadonlyArray<ShutdownBehaviour>
  readonly inFlight: InFlight
  readonly closeTimeoutMs: number
  readonly concurrentCloseTimeoutsMs: ReadonlyArray<number>
}

/** One close call: its bound, what it answered, how long it took. */
interface CloseCall { readonly timeoutMs: number; readonly report: CloseReport; readonly elapsedMs: number }

const timedClose = (harness: ClusterHarness, timeoutMs: number) =>
  Effect.gen(function* () {
    const startedMs = yield* Clock.currentTimeMillis
    const report = yield* harness.engine.close({ timeoutMs })
    return { timeoutMs, report, elapsedMs: (yield* Clock.currentTimeMillis) - startedMs } satisfies CloseCall
  })

/** The operation left running when close is called; it is interrupted when the close step ends. */
const operationInFlight = (harness: ClusterHarness, inFlight: InFlight, closeTimeoutMs: number) => {
  switch (inFlight) {
    case "nothing": return Effect.void
    case "hungControl": return Effect.ignore(harness.engine.checkHealth({ timeoutMs: closeTimeoutMs * 10 }))
    case "longRequest": return Effect.ignore(harness.engine.submit(validRequest("long-request", { steps: 500 })))
  }
}

/**
 * Places the case's faults, starts its in-flight operation, then closes (with the concurrent
 * closes, if any, made at the same instant); answers the first close call first.
 */
const closeUnderFaults = async (harness: ClusterHarness, testCase: CloseCase): Promise<ReadonlyArray<CloseCall>> => {
  const specs = testCase.behaviours.flatMap((behaviour, rank) => shutdownFaults(rank, behaviour))
  if (testCase.inFlight === "hungControl") specs.push({ rank: 0, method: "checkHealth", kind: "hang", count: 1 })
  await injectAll(harness, specs)
  const bounds = [testCase.closeTimeoutMs, ...testCase.concurrentCloseTimeoutsMs]
  return succeed(harness, `close with bounds ${bounds.join(", ")} ms`, Effect.gen(function* () {
    yield* Effect.forkChild(operationInFlight(harness, testCase.inFlight, testCase.closeTimeoutMs))
    // Let the operation reach the ranks before close starts.
    yield* Effect.sleep(Duration.millis(1))
    return yield* Effect.forEach(bounds, (timeoutMs) => timedClose(harness, timeoutMs), { concurrency: "unbounded" })
  }))
}

const allBehaviours: ReadonlyArray<ShutdownBehaviour> = ["none", "hangInShutdown", "ignoreTerminate", "unkillable"]

export const closeIsBounded: ConformanceProperty = {
  id: "SHUT-1",
  statement: "close returns within its bound whatever the ranks do, with an operation in flight or other closes running",
  needs: { faultKinds: ["hang", "ignoreTerminate", "unkillable"] },
  run: (factory, options) =>
    fc.asyncProperty(closeCase(factory.virtualTime, allBehaviours, ["nothing", "hungControl", "longRequest"], 2), (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        for (const call of await closeUnderFaults(harness, testCase)) {
          const boundMs = call.timeoutMs + timeSlackMs(harness)
          expectThat(call.elapsedMs <= boundMs, `close took ${call.elapsedMs} ms, past its bound of ${call.timeoutMs} ms`)
        }
      }))
}

/** Compares a close report with the ranks' truth: `closed` means none alive, `pending-cleanup` names exactly the alive ones. */
const checkReportAgainstTruth = async (harness: ClusterHarness, report: CloseReport, attempt: string) => {
  const truth = await succeed(harness, "reading rank truth", harness.faults.truth())
  const alive = truth.filter((rank) => rank.alive).map((rank) => rank.rank)
  if (report.state === "pending-cleanup") {
    expectThat(alive.length > 0, `${attempt} close reported pending-cleanup of ${showRanks(report.survivingRanks)}, but no rank is alive`)
  } else {
    expectThat(alive.length === 0, `${attempt} close reported ${report.state}, but ranks ${showRanks(alive)} are alive`)
  }
  expectThat(sameRanks(report.survivingRanks, alive), `${attempt} close names survivors ${showRanks(report.survivingRanks)}, the alive ranks are ${showRanks(alive)}`)
}

export const closeReportIsTruthful: ConformanceProperty = {
  id: "SHUT-2",
  statement: "closed means no rank is alive, pending-cleanup names exactly the alive ranks, and a retry after heal converges to closed",
  needs: { faultKinds: ["hang", "ignoreTerminate", "unkillable"] },
  run: (factory, options) =>
    fc.asyncProperty(closeCase(factory.virtualTime, allBehaviours, ["nothing"]), (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        const [{ report }] = await closeUnderFaults(harness, testCase)
        await checkReportAgainstTruth(harness, report, "the first")
        await succeed(harness, "heal", harness.faults.heal())
        const retry = await succeed(harness, "close after heal", harness.engine.close({ timeoutMs: testCase.closeTimeoutMs }))
        expectThat(retry.state === "closed", `close after heal must converge to closed, it reported ${retry.state} with survivors ${showRanks(retry.survivingRanks)}`)
        await checkReportAgainstTruth(harness, retry, "the retried")
      }))
}

export const closeIsIdempotent: ConformanceProperty = {
  id: "SHUT-4",
  statement: "once closed, close answers the same report again and later submissions and operations fail with EngineClosed",
  needs: { faultKinds: ["hang", "ignoreTerminate"] },
  run: (factory, options) =>
    fc.asyncProperty(closeCase(factory.virtualTime, ["none", "hangInShutdown", "ignoreTerminate"], ["nothing"]), (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        const [{ report }] = await closeUnderFaults(harness, testCase)
        expectThat(report.state === "closed", `every rank can be stopped, so close must report closed, it reported ${report.state}`)
        for (const attempt of ["second", "third"]) {
          const again = await succeed(harness, `the ${attempt} close`, harness.engine.close({ timeoutMs: testCase.closeTimeoutMs }))
          expectThat(JSON.stringify(again) === JSON.stringify(report), `the ${attempt} close answered ${JSON.stringify(again)}, the first ${JSON.stringify(report)}`)
        }
        const submitted = await fail(harness, "submit after close", harness.engine.submit(validRequest("after-close")))
        expectThat(tagOf(submitted) === "EngineClosed", `submit after close must fail with EngineClosed, got ${describeError(submitted)}`)
        const added = await fail(harness, "addLora after close", harness.engine.addLora({ id: 1, name: "late" }))
        expectThat(tagOf(added) === "EngineClosed", `addLora after close must fail with EngineClosed, got ${describeError(added)}`)
      }))
}

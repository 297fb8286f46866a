/**
 * Close and the end of a run: close answers a report within its bound, the report names exactly
 * the ranks still alive, and a run ends with nothing pending, the last close final and no rank
 * alive. Ranks reported surviving must be alive and vice versa: a report that hides a survivor
 * leaks a GPU; one that names a dead rank sends the operator after a ghost.
 */
import type { RankTruth } from "../../backends/harness.ts"
import type { CloseReport } from "../../core/lifecycle.ts"
import { type History, tagOf } from "../history.ts"
import type { Observation } from "../invariants.ts"
import { ascending, type Completed, notePath, type Problem, ranksUpTo, type Reference, sameNumbers } from "./reference.ts"
import { recordClosedRequests } from "./requests.ts"

/** Close answers a report (never an error) within its own timeoutMs. */
export const checkCloseBound = (_: Reference, op: Completed): Problem | undefined => {
  if (op.entry.kind !== "close") return undefined
  if (!op.ok) return ["close-bounded", `close answered ${tagOf(op.error)} instead of a report`]
  const timeoutMs = Number(op.args.timeoutMs)
  const elapsedMs = op.entry.completedAtMs! - op.entry.invokedAtMs
  return elapsedMs <= timeoutMs ? undefined : ["close-bounded", `close({ timeoutMs: ${timeoutMs} }) took ${elapsedMs} ms`]
}

/** A close report against the truth at its completion; the requests it failed go to the request book. */
export const checkCloseReport = (reference: Reference, op: Completed): Problem | undefined => {
  if (op.entry.kind !== "close" || !op.ok) return undefined
  return closeReportProblem(reference, op.value as CloseReport, op.observation.truth) ?? recordClosedRequests(reference, op.value as CloseReport)
}

const closeReportProblem = (reference: Reference, report: CloseReport, truth: ReadonlyArray<RankTruth>): Problem | undefined => {
  const alive = truth.filter((rank) => rank.alive).map((rank) => rank.rank)
  const problem = !sameNumbers(ascending(report.survivingRanks), alive)
    ? `close reports survivors [${report.survivingRanks}] but ranks [${alive}] are alive`
    : (report.state === "pending-cleanup") !== (alive.length > 0)
    ? `close reports ${report.state} while ${alive.length} ranks are alive`
    : !sameNumbers(ascending([...report.stoppedRanks, ...report.survivingRanks]), ranksUpTo(reference.options.worldSize))
    ? `close reports stopped [${report.stoppedRanks}] and surviving [${report.survivingRanks}], which do not split the ranks`
    : undefined
  return problem ? ["close-report-matches-truth", problem] : undefined
}

/** At the end of a run: nothing pending, a final close report, and no rank alive. */
export const endProblem = (history: History, observation: Observation, closeReports: ReadonlyArray<CloseReport>): Problem | undefined => {
  const pending = history.pending()
  const last = closeReports.at(-1)
  const alive = observation.truth.filter((rank) => rank.alive).map((rank) => rank.rank)
  const problem = pending.length > 0
    ? `${pending.length} operations never completed, the first ${pending[0].kind} #${pending[0].id}`
    : last === undefined
    ? "the run ended without a close report"
    : last.state === "pending-cleanup"
    ? `the last close left ranks [${last.survivingRanks}] running`
    : alive.length > 0
    ? `ranks [${alive}] are alive after the final close`
    : undefined
  return problem ? ["end-all-complete", problem] : undefined
}

/** Counts a close that left ranks behind, and a later close that finished the job. */
export const noteClose = (reference: Reference, state: string | undefined): void => {
  if (state === "pending-cleanup") {
    notePath(reference, "close-pending-cleanup")
    reference.pendingCleanupSeen = true
  } else if (reference.pendingCleanupSeen) {
    notePath(reference, "close-pending-then-closed")
    reference.pendingCleanupSeen = false
  }
}

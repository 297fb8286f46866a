/**
 * The request book: every admitted request ends in exactly one terminal outcome, an acknowledged
 * abort means that outcome is RequestAborted, and a completed request's outputs are the
 * deterministic digests of that very request (backends/sim/compute.ts).
 *
 * Request ids are assumed unique per run (the workload makes them so): the book keys by id.
 */
import type { CloseReport } from "../../core/lifecycle.ts"
import { itemDigest } from "../../backends/sim/compute.ts"
import { decodeRequest } from "../../core/request.ts"
import { tagOf } from "../history.ts"
import type { Completed, Problem, Reference, RequestRecord } from "./reference.ts"

const terminalTags = new Set([
  "RequestAborted", "CollectiveRpcError", "OutputContractError", "ExecutorDead", "EngineClosed", "EngineAsleep",
  "ExecutorBusy", "ExecutorClosed"
])

const recordOf = (reference: Reference, requestId: string): RequestRecord => {
  let record = reference.requests.get(requestId)
  if (record === undefined) {
    record = { input: undefined, outcome: undefined, abortAcknowledged: false }
    reference.requests.set(requestId, record)
  }
  return record
}

/** Records one observed terminal outcome; a second, different one is a violation. */
const recordOutcome = (record: RequestRecord, requestId: string, outcome: string): Problem | undefined => {
  record.outcome ??= outcome
  if (record.outcome !== outcome) return ["single-terminal-outcome", `request ${requestId} ended twice: ${record.outcome}, then ${outcome}`]
  if (record.abortAcknowledged && outcome !== "failed:RequestAborted") {
    return ["single-terminal-outcome", `request ${requestId} was aborted (abort answered Ok) yet ended ${outcome}`]
  }
  return undefined
}

/** Records submits, awaits and acknowledged aborts in the book; a contradiction is a violation. */
export const checkRequestOutcome = (reference: Reference, op: Completed): Problem | undefined => {
  const { kind } = op.entry
  if (kind !== "submit" && kind !== "await" && kind !== "abort") return undefined
  const request = op.args.request as { requestId: string } | undefined
  const requestId = request?.requestId ?? String(op.args.requestId)
  const record = recordOf(reference, requestId)
  if (kind === "submit") record.input = request
  if (kind === "abort") {
    if (!op.ok) return undefined
    record.abortAcknowledged = true
    return record.outcome === undefined ? undefined : recordOutcome(record, requestId, record.outcome)
  }
  // A submit that only admitted (wait false) has no outcome yet; its refusal is not an ending.
  if (kind === "submit" && op.args.wait === false) return undefined
  if (op.ok) return recordOutcome(record, requestId, `completed:${(op.value as { batchId: number }).batchId}`)
  const tag = tagOf(op.error) ?? "Unknown"
  return terminalTags.has(tag) ? recordOutcome(record, requestId, `failed:${tag}`) : undefined
}

/** A completed request's outputs are, one by one, the simulated model's digests of that request. */
export const checkOutputDigests = (reference: Reference, op: Completed): Problem | undefined => {
  const value = op.value as { requestId: string; output?: { primary: string; payload: ReadonlyArray<{ _tag: string; items: ReadonlyArray<unknown> }> } } | undefined
  if (!reference.options.checkDigests || !op.ok || value?.output === undefined) return undefined
  const input = reference.requests.get(value.requestId)?.input
  const decoded = decodeRequest(input)
  // Skip what cannot be recomputed: an unknown input, or a seed the engine drew itself.
  if (decoded._tag === "Failure" || decoded.success.seed === undefined) return undefined
  const request = { ...decoded.success, seed: decoded.success.seed }
  const items = value.output.payload.find((payload) => payload._tag === value.output!.primary)?.items ?? []
  if (items.length !== request.outputsPerPrompt) {
    return ["output-matches-request", `request ${request.requestId} got ${items.length} outputs, asked for ${request.outputsPerPrompt}`]
  }
  const wrong = items.findIndex((item, index) => (item as { digest: number }).digest !== itemDigest(request, index))
  return wrong < 0 ? undefined : ["output-matches-request", `output ${wrong} of request ${request.requestId} is not its digest`]
}

/** A close report's failed requests ended with EngineClosed: record it, and catch one named twice. */
export const recordClosedRequests = (reference: Reference, report: CloseReport): Problem | undefined => {
  if (new Set(report.failedRequests).size !== report.failedRequests.length) {
    return ["single-terminal-outcome", `a close report names a request twice: [${report.failedRequests}]`]
  }
  for (const requestId of report.failedRequests) {
    const problem = recordOutcome(recordOf(reference, requestId), requestId, "failed:EngineClosed")
    if (problem) return problem
  }
  return undefined
}

/** At the end: a request that ended aborted had an abort acknowledged (nothing else aborts). */
export const abortedWithoutAbort = (reference: Reference): Problem | undefined => {
  for (const [requestId, record] of reference.requests) {
    if (record.outcome === "failed:RequestAborted" && !record.abortAcknowledged) {
      return ["single-terminal-outcome", `request ${requestId} ended aborted, but no abort of it was acknowledged`]
    }
  }
  return undefined
}

/**
 * Checks of one operation's answer on its own: the per-rank envelope (one outcome per rank, a
 * failure has a non-Ok rank, a success accounts for every rank), that every Ok value answers its
 * own call (a stale reply delivered to a later call would not), and the sums a summary reports.
 * Also counts the rare paths an answer shows (compensations, timeouts, divergence, ...).
 */
import type { Health } from "../../core/worker.ts"
import { allRankKinds, outcomesOf, tagOf } from "../history.ts"
import { noteClose } from "./closing.ts"
import { ascending, type Completed, isSortedIds, notePath, type Problem, ranksUpTo, type Reference, sameNumbers } from "./reference.ts"

/** A defect is an assertion of ours that fired: always a violation. */
export const checkDefect = (_: Reference, op: Completed): Problem | undefined =>
  tagOf(op.error) === "Defect" ? ["no-defect", `${op.entry.kind} died: ${(op.error as { message: string }).message}`] : undefined

/** An error's outcomes cover ranks 0..worldSize-1 once each, in order (engine calls target every rank). */
export const checkOutcomeShape = (reference: Reference, op: Completed): Problem | undefined => {
  const outcomes = outcomesOf(op.error)
  if (outcomes === undefined) return undefined
  const ranks = outcomes.map((outcome) => outcome.rank)
  if (!sameNumbers(ranks, ranksUpTo(reference.options.worldSize))) {
    return ["one-outcome-per-rank", `${tagOf(op.error)} of ${op.entry.kind} has outcomes for ranks [${ranks}], not 0..${reference.options.worldSize - 1}`]
  }
  const compensation = (op.error as { compensation?: { ranks: ReadonlyArray<number>; restoredRanks: ReadonlyArray<number>; unrestoredRanks: ReadonlyArray<number> } }).compensation
  if (compensation && !sameNumbers(ascending([...compensation.restoredRanks, ...compensation.unrestoredRanks]), ascending(compensation.ranks))) {
    return ["one-outcome-per-rank", `the compensation's restored [${compensation.restoredRanks}] and unrestored [${compensation.unrestoredRanks}] ranks do not split [${compensation.ranks}]`]
  }
  return undefined
}

/** A failure has a non-Ok outcome; a success of an all-rank call accounts for every rank. */
export const checkSuccessAccounting = (reference: Reference, op: Completed): Problem | undefined => {
  const outcomes = outcomesOf(op.error)
  if (outcomes && outcomes.every((outcome) => outcome._tag === "Ok")) {
    return ["success-iff-all-ok", `${op.entry.kind} failed with ${tagOf(op.error)} although every rank answered Ok`]
  }
  if (!op.ok || !allRankKinds.includes(op.entry.kind)) return undefined
  const all = ranksUpTo(reference.options.worldSize)
  const value = op.value as Record<string, unknown> & ReadonlyArray<unknown>
  const accounted = op.entry.kind === "removeLora"
    ? (value.removedRanks as ReadonlyArray<number>).length > 0 && sameNumbers(ascending([...value.removedRanks as Array<number>, ...value.alreadyAbsentRanks as Array<number>]), all)
    : op.entry.kind === "sleep"
    ? sameNumbers((value.freedBytesByRank as ReadonlyArray<{ rank: number }>).map((entry) => entry.rank), all)
    : op.entry.kind === "wakeUp" || op.entry.kind === "listLoras"
    ? true
    : value.length === all.length
  return accounted ? undefined : ["success-iff-all-ok", `${op.entry.kind} succeeded without accounting for every rank: ${JSON.stringify(value)}`]
}

/** What a rank's Ok value must be for the call `method` with `args`; undefined when it matches. */
const okValueProblem = (method: string, args: Record<string, unknown>, rank: number, value: unknown, outputRank: number): string | undefined => {
  const adapterId = method === "addLora" ? (args.adapter as { id: number } | undefined)?.id : args.adapterId
  switch (method) {
    case "checkHealth":
      return (value as Health).rank === rank ? undefined : `rank ${rank} answered checkHealth with the health of rank ${(value as Health).rank}`
    case "addLora": case "removeLora": case "pinLora":
      return (value as { adapterId: number }).adapterId === adapterId ? undefined
        : `rank ${rank} answered ${method}(${adapterId}) with a report for adapter ${(value as { adapterId: number }).adapterId}`
    case "sleep":
      return (value as { level: number }).level === args.level ? undefined : `rank ${rank} answered sleep(${args.level}) with level ${(value as { level: number }).level}`
    case "listLoras":
      return isSortedIds(value) ? undefined : `rank ${rank} answered listLoras with ${JSON.stringify(value)}, not sorted integer ids`
    case "execute":
      return ((value as { _tag: string })._tag === "Output") === (rank === outputRank) ? undefined
        : `rank ${rank} answered execute with ${(value as { _tag: string })._tag} (the output rank is ${outputRank})`
    default:
      return undefined
  }
}

/** Every Ok value, in a success or inside an error, answers the call that was made. */
export const checkReplies = (reference: Reference, op: Completed): Problem | undefined => {
  const problem = perRankValues(op)
    .map(([rank, method, value]) => okValueProblem(method, op.args, rank, value, reference.options.outputRank))
    .find((found) => found !== undefined) ?? (op.ok ? summaryProblem(op) : undefined)
  return problem ? ["reply-matches-call", problem] : undefined
}

/** Every per-rank Ok value the operation carries: in its error's outcomes, or in its success. */
const perRankValues = (op: Completed): ReadonlyArray<readonly [number, string, unknown]> => {
  const method = (op.error as { result?: { method?: string } } | undefined)?.result?.method ?? op.entry.kind
  const values: Array<readonly [number, string, unknown]> = []
  for (const outcome of outcomesOf(op.error) ?? []) if (outcome._tag === "Ok") values.push([outcome.rank, method, outcome.value])
  for (const group of (op.error as { groups?: ReadonlyArray<{ ranks: ReadonlyArray<number>; value: unknown }> } | undefined)?.groups ?? []) {
    for (const rank of group.ranks) values.push([rank, "listLoras", group.value])
  }
  const kind = op.entry.kind
  if (op.ok && (kind === "addLora" || kind === "pinLora" || kind === "checkHealth")) {
    (op.value as ReadonlyArray<unknown>).forEach((value, rank) => values.push([rank, kind, value]))
  }
  return values
}

/** A successful summary answers its own call: the adapter, level or request that was asked for. */
const summaryProblem = (op: Completed): string | undefined => {
  const value = op.value as Record<string, unknown>
  const requestId = (op.args.request as { requestId?: string } | undefined)?.requestId ?? op.args.requestId
  switch (op.entry.kind) {
    case "removeLora":
      return value.adapterId === op.args.adapterId ? undefined : `removeLora(${op.args.adapterId}) answered a summary of adapter ${value.adapterId}`
    case "sleep":
      return value.level === op.args.level ? undefined : `sleep(${op.args.level}) answered a summary of level ${value.level}`
    case "listLoras":
      return isSortedIds(op.value) ? undefined : `listLoras answered ${JSON.stringify(op.value)}, not sorted integer ids`
    case "submit": case "await":
      return value.output === undefined || value.requestId === requestId ? undefined
        : `${op.entry.kind}(${requestId}) answered the output of request ${value.requestId}`
    default:
      return undefined
  }
}

/**
 * addLora and sleep undo a partial apply, on ranks that applied or may have, never on ranks that
 * surely did not. A sleep undoes on all of them. An addLora spares ranks that held the adapter
 * before (a re-add changed nothing there): each rank it spared must still hold the adapter.
 * (removeLora and wakeUp undo only when the engine knows the adapter, or the level the ranks
 * slept at, which the checker cannot see.)
 */
export const checkCompensation = (_: Reference, op: Completed): Problem | undefined => {
  const kind = op.entry.kind
  if (tagOf(op.error) !== "ControlFailed" || (kind !== "addLora" && kind !== "sleep")) return undefined
  const touched = (outcomesOf(op.error) ?? []).filter((outcome) => outcome._tag === "Ok" || outcome._tag === "TimedOut" || outcome._tag === "Crashed")
    .map((outcome) => outcome.rank)
  const sent = ascending((op.error as { compensation?: { ranks: ReadonlyArray<number> } }).compensation?.ranks ?? [])
  const spared = touched.filter((rank) => !sent.includes(rank))
  const adapterId = (op.args.adapter as { id?: number } | undefined)?.id
  const wrong = sent.some((rank) => !touched.includes(rank))
    || (kind === "sleep" ? spared.length > 0 : spared.some((rank) => !heldAfter(op, rank, adapterId)))
  return wrong ? ["partial-failure-compensated", `${kind} applied, or may have, on ranks [${touched}], but its undo went to [${sent}]`] : undefined
}

/** Whether a live rank holds the adapter now; a dead rank, or an adapter in flight again, is not judged. */
const heldAfter = (op: Completed, rank: number, adapterId: number | undefined): boolean => {
  const truth = op.observation.truth[rank]
  const again = op.observation.inFlight.some((entry) => entry.kind === "addLora" || entry.kind === "removeLora")
  return truth === undefined || !truth.alive || again || (adapterId !== undefined && truth.loras.includes(adapterId))
}

/** A sleep summary's total is the sum of its per-rank parts. */
export const checkFreedBytes = (_: Reference, op: Completed): Problem | undefined => {
  if (op.entry.kind !== "sleep" || !op.ok) return undefined
  const summary = op.value as { freedBytesTotal: number; freedBytesByRank: ReadonlyArray<{ freedBytes: number }> }
  const sum = summary.freedBytesByRank.reduce((total, entry) => total + entry.freedBytes, 0)
  return sum === summary.freedBytesTotal ? undefined
    : ["freed-bytes-add-up", `sleep reported ${summary.freedBytesTotal} bytes freed in total, but its ranks sum to ${sum}`]
}

/** Counts the rare paths an answer shows; the coverage table reads them. */
export const notePaths = (reference: Reference, op: Completed): void => {
  const note = (name: string) => notePath(reference, name)
  const tag = tagOf(op.error)
  const outcomes = outcomesOf(op.error) ?? []
  if (tag === "ControlFailed") {
    const compensation = (op.error as { compensation?: { unrestoredRanks: ReadonlyArray<number> } }).compensation
    note(compensation === undefined ? "control-failed-uncompensated"
      : compensation.unrestoredRanks.length === 0 ? "compensation-succeeded" : "compensation-failed-degraded")
  }
  if (outcomes.some((outcome) => outcome._tag === "TimedOut")) note("rank-timed-out")
  if (outcomes.some((outcome) => outcome._tag === "Crashed")) note("rank-crashed")
  const failedWith = (errorTag: string) => outcomes.some((outcome) => outcome._tag === "Failed" && tagOf(outcome.error) === errorTag)
  if (op.entry.kind === "wakeUp" && failedWith("OutOfMemory")) note("oom-on-wake")
  if (tag === "CollectiveRpcError" && (op.entry.kind === "submit" || op.entry.kind === "await")
    && outcomes.some((outcome) => outcome.rank === reference.options.outputRank && outcome._tag === "Ok")) {
    note("batch-failed-on-non-output-rank")
  }
  if (tag === "RankDivergence") note("divergence-reported")
  if (tag === "RequestAborted") note("request-aborted")
  if (op.entry.kind === "submit" && (tag === "EngineAsleep" || tag === "EngineDegraded")) note(`submit-refused-${tag === "EngineAsleep" ? "asleep" : "degraded"}`)
  const value = op.value as { alreadyAbsentRanks?: ReadonlyArray<number>; state?: string } | undefined
  if (op.ok && op.entry.kind === "removeLora" && (value?.alreadyAbsentRanks?.length ?? 0) > 0) note("remove-where-already-absent")
  if (op.ok && op.entry.kind === "close") noteClose(reference, value?.state)
}


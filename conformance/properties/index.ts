/**
 * Every conformance property, in report order: aggregation, consistency, shutdown, API, outputs,
 * determinism. Ids are stable; a new property gets a new id, never a reused one.
 */
import type { ConformanceProperty } from "../property.ts"
import { aggregatesMatchReference } from "./aggregators.ts"
import { badRequestsAreTyped } from "./bad-requests.ts"
import { errorNamesNonOkRanks, hungCallResolvesByDeadline, successIffEveryRankOk } from "./collective.ts"
import { partialAddCompensated, timeoutMayHaveApplied } from "./compensation.ts"
import { batchFailsWhenAnyRankFails } from "./data-plane.ts"
import { sameSeedSameRun } from "./determinism.ts"
import { legacyShimIsExact, perPromptSplitIsExact } from "./outputs.ts"
import { loraUnsupportedIsTyped, sleepAndWakeAreExact } from "./api.ts"
import { noSilentDivergence } from "./no-silent-divergence.ts"
import { deathFailsPendingCall } from "./rank-death.ts"
import { everyRequestEndsOnce } from "./requests-at-close.ts"
import { closeIsBounded, closeIsIdempotent, closeReportIsTruthful } from "./shutdown.ts"
import { noStaleReplyDelivered } from "./stale-replies.ts"

export const conformanceProperties: ReadonlyArray<ConformanceProperty> = [
  successIffEveryRankOk,
  errorNamesNonOkRanks,
  hungCallResolvesByDeadline,
  noStaleReplyDelivered,
  deathFailsPendingCall,
  aggregatesMatchReference,
  batchFailsWhenAnyRankFails,
  noSilentDivergence,
  partialAddCompensated,
  timeoutMayHaveApplied,
  closeIsBounded,
  closeReportIsTruthful,
  everyRequestEndsOnce,
  closeIsIdempotent,
  loraUnsupportedIsTyped,
  sleepAndWakeAreExact,
  badRequestsAreTyped,
  legacyShimIsExact,
  perPromptSplitIsExact,
  sameSeedSameRun
]

/** The property with this id, or undefined. */
export const propertyById = (id: string): ConformanceProperty | undefined =>
  conformanceProperties.find((property) => property.id === id)

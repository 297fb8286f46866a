/**
 * The mutant catalogue: deliberately broken core policies, each the way an upstream runtime went
 * wrong, and the properties expected to catch it.
 *
 * A mutant runs the *real* core with one decision point flipped (core/policy.ts), so a suite that
 * passes on the correct core and fails on every mutant proves it can tell them apart. Every field
 * of `CorePolicy` is flipped by at least one mutant. `expectedKillers` names the properties written
 * to catch the mutant; the mutant runner reports when none of them did, even if another property
 * killed it, because then the property meant for that bug has gone blind.
 */
import type { CorePolicy } from "../../core/policy.ts"

export interface Mutant {
  /** Stable id, used in reports and replay lines (`--mutant <id>`). */
  readonly id: string
  /** One line: what is broken. */
  readonly description: string
  readonly policy: Partial<CorePolicy>
  /** Properties written to catch this mutant; at least one must. */
  readonly expectedKillers: ReadonlyArray<string>
}

export const mutantCatalogue: ReadonlyArray<Mutant> = [
  {
    id: "rank-0-only-replies",
    description: "rank 0's answer stands for every rank",
    policy: { waveReading: "rank-0-only" },
    expectedKillers: ["AGG-1", "AGG-2"]
  },
  {
    id: "first-failure-wins",
    description: "a wave stops gathering at the first non-Ok reply",
    policy: { waveReading: "first-failure-wins" },
    expectedKillers: ["AGG-2"]
  },
  {
    id: "or-instead-of-and",
    description: "the and aggregator answers the OR of the ranks' booleans",
    policy: { booleanAggregation: "or" },
    expectedKillers: ["AGG-6"]
  },
  {
    id: "no-wave-ids",
    description: "a reply goes to its rank's oldest pending wave, whatever wave it answers",
    policy: { waveIds: "ignored" },
    expectedKillers: ["AGG-4"]
  },
  {
    id: "timeouts-as-definite",
    description: "a timed-out or crashed rank is taken not to have applied the call",
    policy: { indefiniteOutcomes: "not-applied" },
    expectedKillers: ["CONS-3", "CONS-1"]
  },
  {
    id: "sleep-errors-acknowledged",
    description: "a rank's sleep or wake error is counted as success",
    policy: { sleepErrors: "acknowledged" },
    expectedKillers: ["API-2", "CONS-1"]
  },
  {
    id: "list-loras-from-rank-0",
    description: "listLoras answers rank 0's adapters for every rank",
    policy: { loraListing: "rank-0-only" },
    expectedKillers: ["AGG-6"]
  },
  {
    id: "no-compensation",
    description: "a partially applied control operation is left as it is",
    policy: { compensation: "off" },
    expectedKillers: ["CONS-2"]
  },
  {
    id: "data-plane-output-rank-only",
    description: "a batch succeeds when the output rank does, whatever the other ranks did",
    policy: { dataPlane: "output-rank-only" },
    expectedKillers: ["AGG-7"]
  },
  {
    id: "death-by-timeout-only",
    description: "a rank's exit is noticed only when its calls time out",
    policy: { deathDetection: "timeout-only" },
    expectedKillers: ["AGG-5"]
  },
  {
    id: "close-always-closed",
    description: "close reports closed while ranks still run",
    policy: { closeReport: "always-closed" },
    expectedKillers: ["SHUT-2"]
  },
  {
    id: "close-abandons-requests",
    description: "close leaves queued and running requests waiting forever",
    policy: { closePendingRequests: "abandon" },
    expectedKillers: ["SHUT-3"]
  },
  {
    id: "wake-accepts-incomplete-tags",
    description: "a wake whose tags miss a sleeping pool counts as awake",
    policy: { wakeTags: "unchecked" },
    expectedKillers: ["API-2"]
  },
  {
    id: "lora-unsupported-dies",
    description: "a LoRA call on a model without LoRA dies (upstream's AttributeError)",
    policy: { loraUnsupported: "defect" },
    expectedKillers: ["API-1"]
  }
]

/** The mutant with this id, or undefined. */
export const mutantById = (id: string): Mutant | undefined => mutantCatalogue.find((mutant) => mutant.id === id)

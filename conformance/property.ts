/**
 * A conformance property: a stable id, a one-line statement, what it needs from a backend, and
 * the fast-check property that checks it on any backend.
 *
 * Properties are product code (DESIGN.md, Conformance): an engine builder runs them against their
 * own backend, and the mutants prove each one can fail. A property sees a backend only through
 * the `HarnessFactory` contract, starts a fresh cluster per generated case, and signals a broken
 * contract by throwing a `PropertyViolation` whose message says what was expected and what
 * happened. A backend that cannot meet a property's needs (virtual time, a fault kind) gets the
 * property reported `skipped` with the reason, never silently passed.
 */
import type * as fc from "fast-check"
import type { HarnessFactory, ModelOptions } from "../backends/harness.ts"
import type { CorePolicy } from "../core/policy.ts"

/** What a backend must offer for a property to mean anything on it. */
export interface PropertyNeeds {
  /** The property compares runs, so time and scheduling must replay exactly. */
  readonly virtualTime?: boolean | undefined
  /** Fault kinds the property injects; each must be in the backend's `faultKinds`. */
  readonly faultKinds?: ReadonlyArray<string> | undefined
  /** Model options the property sets; the backend's models must honor each. */
  readonly modelOptions?: ReadonlyArray<keyof ModelOptions> | undefined
}

/** How a property starts its clusters. */
export interface PropertyOptions {
  /** Core decision points to override; only mutants set this. */
  readonly policy?: Partial<CorePolicy> | undefined
  /**
   * Replaying a model-based property: the commands' replay path fast-check printed with the
   * counterexample (`replayPath="..."`). Which commands ran decides how a schedule shrinks, so a
   * replay by seed and path needs it too.
   */
  readonly commandsReplayPath?: string | undefined
}

/**
 * A fast-check property with its case type erased: the runner checks every property the same way,
 * and only the property itself knows the shape of its cases.
 */
export type CheckableProperty = fc.IRawProperty<any>

export interface ConformanceProperty {
  /** Stable id (AGG-1, CONS-2, ...): reports, replay lines and mutants name properties by it. */
  readonly id: string
  /** One line: the contract the property checks. */
  readonly statement: string
  readonly needs?: PropertyNeeds | undefined
  /** The fast-check property over generated cases, checking `factory` under `options`. */
  readonly run: (factory: HarnessFactory, options: PropertyOptions) => CheckableProperty
}

/**
 * The backend broke the property's contract. Distinct from `InvariantViolation` (our own bug): a
 * property violation is the expected way a broken backend or mutant shows.
 */
export class PropertyViolation extends Error {
  override readonly name = "PropertyViolation"
}

/** Throws a `PropertyViolation` with `message` unless `condition` holds. */
export function expectThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new PropertyViolation(message)
}

/** Why `factory` cannot run `property`, or undefined when it can. */
export const unmetNeeds = (property: ConformanceProperty, factory: HarnessFactory): string | undefined => {
  const needs = property.needs
  if (needs?.virtualTime === true && !factory.virtualTime) {
    return `needs virtual time to replay a run exactly; backend ${factory.name} runs on the wall clock`
  }
  const missing = (needs?.faultKinds ?? []).filter((kind) => !factory.faultKinds.includes(kind))
  if (missing.length > 0) return `needs fault kinds ${missing.join(", ")}, which backend ${factory.name} cannot produce`
  const honored = factory.modelOptions
  const unhonored = honored === undefined ? [] : (needs?.modelOptions ?? []).filter((option) => !honored.includes(option))
  if (unhonored.length > 0) return `needs the model option(s) ${unhonored.join(", ")}, which backend ${factory.name}'s models do not honor`
  return undefined
}

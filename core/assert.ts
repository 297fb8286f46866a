/**
 * Invariant assertions.
 *
 * An assertion catches *our* bug: a state the code promises can never be reached. An operating
 * error (a rank crashed, a call timed out) is expected and travels as a typed failure instead.
 * Thrown inside an effect, a violation becomes a defect that no `catchTag` can swallow, so the
 * fiber dies and the simulator prints the seed that got there. Assertions stay on in every build.
 */
export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation"
}

/**
 * Throws `InvariantViolation` when `condition` is false. One condition per call. A message that
 * interpolates values is passed as a function, so it is built only when the assertion fails: on
 * hot paths (every outcome of every collective, every simulated timer) building it each time
 * cost more than the check.
 */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantViolation(typeof message === "string" ? message : message())
}

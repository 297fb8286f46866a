/**
 * DET-1: the same seed gives the same run.
 *
 * Replay is what makes a simulator failure worth having: a seed that fails once must fail the
 * same way again, or shrinking and debugging chase ghosts. Method: a random schedule of control
 * operations with faults, heals and waits, ending in a request, runs twice on fresh clusters with
 * the same seed. The fingerprints (every step's outcome and time, then the engine's state and
 * beliefs and the ranks' truth) must be equal. Only a virtual-time backend can promise this; on a
 * wall-clock backend the property is skipped, with that reason.
 */
import { Exit } from "effect"
import * as fc from "fast-check"
import type { ClusterHarness, HarnessFactory } from "../../backends/harness.ts"
import { describeCause, settle, snapshot, withCluster } from "../cluster.ts"
import { clusterShape, validRequest } from "../cases.ts"
import { type ConformanceProperty, expectThat, type PropertyOptions } from "../property.ts"
import { controlCommands, type ScheduledCommand } from "./control-commands.ts"

const stepsMax = 12

const scenario = clusterShape(1, 4).chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    steps: fc.array(fc.oneof(...controlCommands(shape.ranks)), { maxLength: stepsMax })
  }))

const fingerprintExit = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit) ? `ok ${JSON.stringify(exit.value) ?? "void"}` : `failed ${describeCause(exit.cause)}`

/** Everything observable at the end: engine state and beliefs (sets as sorted lists), rank truth. */
const fingerprintFinal = async (harness: ClusterHarness): Promise<string> => {
  const now = await snapshot(harness)
  const views = now.views.map((view) => ({ ...view, loras: [...view.loras].sort(), lorasMaybe: [...view.lorasMaybe].sort() }))
  return JSON.stringify({ atMs: harness.nowMs(), state: now.state, views, truth: now.truth })
}

/** Runs the schedule on a fresh cluster and answers one fingerprint line per step, then the final state. */
const fingerprintRun = (factory: HarnessFactory, options: PropertyOptions, shape: { ranks: number; seed: number }, steps: ReadonlyArray<ScheduledCommand>) =>
  withCluster(factory, options, shape, async (harness) => {
    const lines: Array<string> = []
    for (const step of steps) lines.push(`${step.toString()} at ${harness.nowMs()}: ${fingerprintExit(await step.perform(harness))}`)
    const request = await settle(harness, "a request", harness.engine.submit(validRequest("determinism")))
    lines.push(`submit: ${fingerprintExit(request)}`)
    lines.push(await fingerprintFinal(harness))
    return lines
  })

export const sameSeedSameRun: ConformanceProperty = {
  id: "DET-1",
  statement: "the same seed gives the same run: every step's outcome and the final state are equal",
  needs: { virtualTime: true, faultKinds: ["throw", "hang", "slow"] },
  run: (factory, options) =>
    fc.asyncProperty(scenario, async ({ shape, steps }) => {
      const first = await fingerprintRun(factory, options, shape, steps)
      const second = await fingerprintRun(factory, options, shape, steps)
      const index = first.findIndex((line, at) => line !== second[at])
      expectThat(index < 0 && first.length === second.length, `runs of seed ${shape.seed} differ at line ${index}: "${first[index]}" then "${second[index]}"`)
    })
}

/**
 * CONS-1: no silent divergence, model-based.
 *
 * Upstream's engine believed whatever rank 0 said, so after a partial failure it served requests
 * on ranks that held different adapters or slept. Method: fast-check generates schedules of
 * control operations (addLora, removeLora, sleep, wakeUp, listLoras, checkHealth), some with a
 * fault on one rank for that operation (throw, hang, slow), interleaved with heals and waits.
 * After every command the engine's beliefs are compared with the ranks' truth: a definite belief
 * never contradicts the truth, and while the engine is ready or asleep every belief is definite
 * and true. `asyncModelRun` shrinks a failure to a minimal schedule.
 */
import * as fc from "fast-check"
import { withCluster } from "../cluster.ts"
import { clusterShape } from "../cases.ts"
import type { ConformanceProperty } from "../property.ts"
import { type ControlModel, controlCommands } from "./control-commands.ts"

/** Commands per schedule: enough for fault, partial failure, heal and reconciliation to meet. */
const commandsMax = 24
const worldSizeMax = 4

/**
 * The schedule does not depend on the world size (a `chain` would), so fast-check can replay a
 * shrunk schedule from its seed, path and the commands' replay path; a command whose fault names
 * a rank outside the world is simply not applied.
 */
const schedule = (replayPath: string | undefined) =>
  fc.tuple(clusterShape(1, worldSizeMax), fc.commands(controlCommands(worldSizeMax), { maxCommands: commandsMax, replayPath }))

export const noSilentDivergence: ConformanceProperty = {
  id: "CONS-1",
  statement: "under any schedule of control operations and faults, the engine's definite beliefs match every alive rank, and all beliefs do while it is ready or asleep",
  needs: { faultKinds: ["throw", "hang", "slow"] },
  run: (factory, options) =>
    fc.asyncProperty(schedule(options.commandsReplayPath), ([shape, commands]) =>
      withCluster(factory, options, shape, (harness) =>
        fc.asyncModelRun(async () => ({ model: { worldSize: shape.ranks, steps: 0 } satisfies ControlModel, real: { harness } }), commands)))
}

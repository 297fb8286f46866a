/**
 * A worked example: your own Worker, checked by the Rankwise conformance suites.
 *
 * `PatternWorker` is a toy model: it "generates" an image by hashing the prompt, and holds LoRA
 * adapters and a sleep state like a real rank. Implementing the Worker contract means answering
 * every method with a value or one of the contract's typed errors, never throwing. The suites
 * then drive many of these workers as ranks, inject faults around them, and check the engine's
 * control plane end to end. `truth()` tells the suites what the rank really holds.
 *
 * `buggy: true` plants a bug a real worker could have: `sleep` acknowledges without putting
 * anything to sleep (upstream's sleep handlers turned failures into an acknowledgement the same
 * way), so the engine believes a state the rank does not hold. The suites catch it.
 */
import { Effect } from "effect"
import {
  AlreadyAsleep, IncompleteWake, LoraNotFound, NotAsleep, WorkerAsleep, type LoraReport,
  type Batch, type ExecuteReply, type MemoryTag, type SleepLevel, type SleepReport, type WakeReport
} from "../../index.ts"
import type { OwnWorker } from "../../simulator/harness.ts"

export interface PatternWorkerOptions {
  readonly rank: number
  readonly outputRank: number
  readonly buggy?: boolean | undefined
}

const weightsBytes = 1_000_000

export const makePatternWorker = (options: PatternWorkerOptions): OwnWorker => {
  const loras = new Set<number>()
  let sleepLevel: SleepLevel | null = null

  const execute = (batch: Batch) => Effect.suspend((): Effect.Effect<ExecuteReply, WorkerAsleep> => {
    if (sleepLevel !== null) return Effect.fail(new WorkerAsleep({ level: sleepLevel }))
    if (options.rank !== options.outputRank) return Effect.succeed({ _tag: "Ack" as const })
    const items = batch.requests.flatMap((request) =>
      Array.from({ length: request.outputsPerPrompt }, (_, index) => ({ requestId: request.requestId, pattern: hash(`${request.prompt}/${request.seed}/${index}`) })))
    return Effect.succeed({ _tag: "Output" as const, output: { image: items } })
  })

  const sleep = (level: SleepLevel) => Effect.suspend((): Effect.Effect<SleepReport, AlreadyAsleep> => {
    if (sleepLevel !== null) return Effect.fail(new AlreadyAsleep({ level: sleepLevel }))
    if (!options.buggy) sleepLevel = level
    return Effect.succeed({ level, freedBytes: weightsBytes })
  })

  const wakeUp = (tags: ReadonlyArray<MemoryTag>) => Effect.suspend((): Effect.Effect<WakeReport, NotAsleep | IncompleteWake> => {
    if (sleepLevel === null) return Effect.fail(new NotAsleep())
    if (!tags.includes("weights")) return Effect.fail(new IncompleteWake({ missingTags: ["weights"] }))
    sleepLevel = null
    return Effect.succeed({ tags: ["weights"], restoredBytes: weightsBytes })
  })

  const report = (adapterId: number) => ({ adapterId, boundLayers: 4 })

  return {
    load: () => Effect.succeed({ bytes: weightsBytes }),
    execute,
    sleep,
    wakeUp,
    addLora: (adapter) => Effect.sync(() => {
      loras.add(adapter.id)
      return report(adapter.id)
    }),
    removeLora: (adapterId) => Effect.suspend((): Effect.Effect<LoraReport, LoraNotFound> =>
      loras.delete(adapterId) ? Effect.succeed(report(adapterId)) : Effect.fail(new LoraNotFound({ adapterId }))),
    pinLora: (adapterId) => Effect.suspend((): Effect.Effect<LoraReport, LoraNotFound> =>
      loras.has(adapterId) ? Effect.succeed(report(adapterId)) : Effect.fail(new LoraNotFound({ adapterId }))),
    listLoras: () => Effect.sync(() => [...loras].sort((a, b) => a - b)),
    checkHealth: () => Effect.sync(() => ({
      rank: options.rank, asleep: sleepLevel !== null, sleepLevel, loras: [...loras].sort((a, b) => a - b),
      usedBytes: sleepLevel === null ? weightsBytes : 0, device: `pattern:${options.rank}`
    })),
    shutdown: () => Effect.void,
    truth: () => ({ asleep: sleepLevel !== null, sleepLevel, loras: [...loras].sort((a, b) => a - b) })
  }
}

const hash = (text: string): number => {
  let value = 0x811c9dc5
  for (let index = 0; index < text.length; index++) value = Math.imul(value ^ text.charCodeAt(index), 0x01000193)
  return value >>> 0
}

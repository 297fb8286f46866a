/**
 * The cluster harness: how a test driver (the scenario runner, the conformance suites) drives any
 * backend the same way.
 *
 * A harness is one running cluster: an engine and executor from `core/` over some backend's
 * ranks, a fault handle that injects faults and reads the ranks' ground truth, and a way to run
 * effects to their end within a time budget. The simulator's harness runs on virtual time (a
 * budget is virtual milliseconds and costs nothing); a real backend's harness runs on the wall
 * clock. Drivers are written once against this contract.
 */
import type { Effect, Exit } from "effect"
import type { ExitInfo } from "../core/control.ts"
import type { EngineConfig, EngineShape } from "../core/engine.ts"
import type { ExecutorShape } from "../core/executor.ts"
import type { CorePolicy } from "../core/policy.ts"
import type { SleepLevel, WorkerMethod } from "../core/worker.ts"

/** A fault as data. `method` is required for call faults, absent for signal faults. */
export interface FaultSpec {
  readonly rank: number
  readonly method?: WorkerMethod | undefined
  readonly kind: string
  /** How many matching calls it hits; absent means every one. */
  readonly count?: number | undefined
  readonly delayMs?: number | undefined
}

/** What a rank really holds, read from the rank itself (never from the engine). */
export interface RankTruth {
  readonly rank: number
  readonly alive: boolean
  readonly asleep: boolean
  readonly sleepLevel: SleepLevel | null
  readonly loras: ReadonlyArray<number>
  readonly exit: ExitInfo | null
}

export interface FaultHandle {
  /** Adds a fault; fails with a message when the backend cannot produce that fault. */
  readonly inject: (spec: FaultSpec) => Effect.Effect<void, { readonly _tag: string; readonly message: string }>
  /** Clears every fault and releases hung calls. */
  readonly heal: () => Effect.Effect<void>
  /** Kills a rank from outside (SIGKILL on a real backend). */
  readonly kill: (rank: number) => Effect.Effect<void>
  readonly truth: () => Effect.Effect<ReadonlyArray<RankTruth>>
  /** Freezes a rank (SIGSTOP: a real hang); only backends with real processes have it. */
  readonly stop?: ((rank: number) => Effect.Effect<void>) | undefined
  /** Thaws a frozen rank (SIGCONT). */
  readonly resume?: ((rank: number) => Effect.Effect<void>) | undefined
}

/** How a drive ended. */
export type DriveResult<A, E> =
  | { readonly _tag: "Done"; readonly exit: Exit.Exit<A, E> }
  /** Nothing can ever happen again and the effect is not done (only a virtual-time backend knows). */
  | { readonly _tag: "Stuck" }
  | { readonly _tag: "BudgetExceeded"; readonly budgetMs: number }

export interface ClusterHarness {
  readonly backend: string
  readonly worldSize: number
  /** True when time is virtual: budgets cost nothing and runs replay exactly. */
  readonly virtualTime: boolean
  readonly engine: EngineShape
  readonly executor: ExecutorShape
  readonly faults: FaultHandle
  /** Runs `effect` to its end, or until `budgetMs` of the harness's time passes. */
  readonly run: <A, E>(effect: Effect.Effect<A, E>, budgetMs: number) => Promise<DriveResult<A, E>>
  /** Lets `ms` of the harness's time pass (virtual or real). */
  readonly advance: (ms: number) => Promise<void>
  /** The harness's current time in milliseconds. */
  readonly nowMs: () => number
  /** Heals, closes the engine, and releases everything the cluster holds (processes, scopes). */
  readonly dispose: () => Promise<void>
}

/** The simulated model's knobs; real backends use the ones that apply to them. */
export interface ModelOptions {
  readonly lora?: boolean | undefined
  readonly deviceBytes?: number | undefined
  readonly weightsBytes?: number | undefined
  readonly kvCacheBytes?: number | undefined
  readonly loraBytes?: number | undefined
  readonly invalidAdapterIds?: ReadonlyArray<number> | undefined
  readonly stepMs?: number | undefined
}

export interface HarnessOptions {
  readonly ranks: number
  readonly seed: number
  readonly outputRank?: number | undefined
  readonly model?: ModelOptions | undefined
  readonly engine?: EngineConfig | undefined
  readonly faults?: ReadonlyArray<FaultSpec> | undefined
  /** Core decision points to override: only conformance mutants set this. */
  readonly policy?: Partial<CorePolicy> | undefined
}

/** A backend as drivers see it: a name, what it can do, and how to start a cluster. */
export interface HarnessFactory {
  readonly name: string
  readonly virtualTime: boolean
  /** Fault kinds this backend can produce; others are refused, never silently ignored. */
  readonly faultKinds: ReadonlyArray<string>
  /**
   * The `ModelOptions` this backend's models honor; all of them when absent. A user's own
   * worker honors none, so properties that configure the model (no LoRA manager, a second
   * memory pool) are skipped for it with the reason.
   */
  readonly modelOptions?: ReadonlyArray<keyof ModelOptions> | undefined
  /** Starts a cluster; rejects with a message when it cannot (bad faults, ranks failed to start). */
  readonly start: (options: HarnessOptions) => Promise<ClusterHarness>
}

/** A harness could not start: `reason` says why (the engine's load failed, a rank did not start). */
export class HarnessStartError extends Error {
  override readonly name = "HarnessStartError"
}

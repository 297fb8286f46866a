/**
 * A rank over NATS as this OS process: its signals, its exit, and (when a harness spawned it) the
 * guard against outliving that harness.
 *
 * SIGTERM is a stop request the ignoreTerminate fault may refuse, as over NATS; SIGINT (Ctrl-C at
 * a terminal) always stops the rank. A rank spawned with an IPC channel exits as soon as the
 * channel closes (its harness died or let go), and as a second line when it is re-parented: a
 * local cluster must leave no orphans. A rank started by hand on another host has no channel and
 * lives until stopped.
 */
import { guardAgainstOrphaning } from "../process/orphan-guard.ts"
import { type NatsRankOptions, type RankProcessHooks, startNatsRank } from "./rank-node.ts"

/** If a signal sent to ourselves does not end us (a runtime that swallows it), exit anyway. */
const selfSignalGraceMs = 500

export interface RankProcessOptions extends NatsRankOptions {
  /** Exit when the spawning parent goes away (only when started with an IPC channel). */
  readonly orphanGuard: boolean
}

/** Starts the rank in this process; resolves once it is connected and joining. */
export const runRankProcess = async (options: RankProcessOptions): Promise<void> => {
  let node: Awaited<ReturnType<typeof startNatsRank>> | undefined
  // Before the rank is connected there is nobody to tell: a signal simply ends the process.
  const onTerminate = () => (node === undefined ? process.exit(143) : node.terminate())
  const onInterrupt = () => (node === undefined ? process.exit(130) : node.leave({ code: 130, signal: null, reason: "interrupted (SIGINT)" }, 130))
  const hooks: RankProcessHooks = {
    exit: (code) => process.exit(code),
    // The handlers step aside first, so the re-raised signal ends the process for real.
    killSelf: (signal) => {
      process.removeListener("SIGTERM", onTerminate)
      process.removeListener("SIGINT", onInterrupt)
      try {
        process.kill(process.pid, signal)
      } finally {
        setTimeout(() => process.exit(signal === "SIGKILL" ? 137 : 143), selfSignalGraceMs).unref()
      }
    },
    report: (text) => void process.stderr.write(text)
  }
  process.on("SIGTERM", onTerminate)
  process.on("SIGINT", onInterrupt)
  if (options.orphanGuard && typeof process.send === "function") guardAgainstOrphaning()
  node = await startNatsRank(options, hooks)
}


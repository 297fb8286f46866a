/**
 * Whether processes are gone, for tests that must prove no rank is left behind.
 *
 * `process.kill(pid, 0)` throws ESRCH once a process no longer exists. A process that has exited
 * but whose parent has not reaped it yet is a zombie: it holds no memory and runs nothing, but
 * still answers signal 0. Our own ranks are reaped by our runtime; an orphan's zombie waits for
 * whatever adopted it (PID 1 in a container may never reap), so on Linux a zombie counts as gone
 * and is reported as such.
 */
import { readFileSync } from "node:fs"

export type PidState = "running" | "zombie" | "gone"

export const pidState = (pid: number): PidState => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return "gone"
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The state is the first field after the parenthesised command name.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z" ? "zombie" : "running"
  } catch {
    return "running"
  }
}

/** Pids that still run (zombies excluded). */
export const runningPids = (pids: ReadonlyArray<number>): ReadonlyArray<number> =>
  pids.filter((pid) => pidState(pid) === "running")

/** Waits until none of `pids` runs, polling, for at most `boundMs`; answers those still running. */
export const waitUntilGone = async (pids: ReadonlyArray<number>, boundMs: number): Promise<ReadonlyArray<number>> => {
  const deadline = performance.now() + boundMs
  while (runningPids(pids).length > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25))
  return runningPids(pids)
}

/**
 * A rank process must not outlive the program that started it. The first line is the IPC
 * channel: when the parent goes, the channel disconnects and the rank exits. The second line
 * catches a parent that died without closing it (SIGKILL races): the rank looks at its parent
 * process id every `parentCheckIntervalMs` and exits once it changed (it was re-parented).
 * Used by process ranks (rank-main.ts) and by NATS ranks a program spawned (nats/rank-process.ts).
 */

/** How often the second-line guard looks at the parent process id. */
const parentCheckIntervalMs = 500

/** Installs both lines; call it only in a process started with an IPC channel. */
export const guardAgainstOrphaning = (): void => {
  // Never `process.disconnect()`: on Node 20 that crashes when the parent has already exited.
  process.on("disconnect", () => process.exit(0))
  const parentPid = process.ppid
  setInterval(() => {
    if (process.ppid !== parentPid) process.exit(0)
  }, parentCheckIntervalMs).unref()
}

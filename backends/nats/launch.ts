/**
 * Ranks this machine spawns for a NATS cluster: `rank-main` as child processes.
 *
 * How the program starts on each runtime is the process backend's decision (launch.ts: Bun and
 * Deno run the `.ts` entry, Node a one-off esbuild bundle), so both backends start ranks alike.
 * The child's IPC channel carries nothing but its lifetime: the rank exits when the channel
 * closes, so a harness that dies leaves no orphans. Everything else goes through the NATS server,
 * as it would for a rank on another host; what this machine adds is the ground truth of the
 * process (its pid, its real exit, real signals).
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { ExitInfo } from "../../core/control.ts"
import type { RankLaunch } from "../process/launch.ts"
import { signalByPid } from "../process/rank-process.ts"
import { type NatsAuth, natsEnvironment } from "./connection.ts"
import type { NatsRankConfig } from "./rank-config.ts"

/** How much of a rank's stderr is kept, for start failures and crash reasons. */
const stderrTailBytesMax = 4_096

export type LocalSignal = "SIGTERM" | "SIGKILL" | "SIGSTOP" | "SIGCONT"

export interface LocalRank {
  readonly rank: number
  readonly pid: number
  /** How the process ended, or null while it runs. */
  readonly exit: () => ExitInfo | null
  readonly exited: Promise<ExitInfo>
  /** Signals the process unless it has exited. */
  readonly signal: (signal: LocalSignal) => void
  readonly stderrTail: () => string
}

/** The rank program next to this file: `.ts` when running from source, `.js` when compiled. */
export const natsRankEntryPath = (): string =>
  fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./rank-main.ts" : "./rank-main.js", import.meta.url))

/**
 * The process backend's Node bundle is an ES module, and the `nats` client inside it is CommonJS
 * that `require`s Node built-ins (crypto, net), which an ES module bundle cannot do ("Dynamic
 * require of crypto is not supported"). A global `require`, set before the bundle loads, is what
 * esbuild's shim falls back to. (A `banner` in the bundler would do the same at build time.)
 */
const requireShim = `data:text/javascript,${encodeURIComponent(
  "import { createRequire } from 'node:module'; globalThis.require = createRequire('file:///rankwise-rank.cjs')"
)}`

/** The `execArgv` to fork `launch` with: the launch's own, plus the require shim for a bundle. */
export const forkExecArgv = (launch: RankLaunch): ReadonlyArray<string> | undefined =>
  launch.mode === "bundle" ? ["--import", requireShim, ...(launch.execArgv ?? [])] : launch.execArgv

/** Spawns one rank; it connects and joins on its own. The secret travels in its environment. */
export const spawnLocalRank = (launch: RankLaunch, config: NatsRankConfig, auth: NatsAuth): LocalRank => {
  const execArgv = forkExecArgv(launch)
  const child = fork(launch.modulePath, [JSON.stringify(config)], {
    ...(execArgv === undefined ? {} : { execArgv: [...execArgv] }),
    // stdout is dropped: a rank printing there would corrupt the parent's own output (--json).
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    env: { ...process.env, ...secretEnvironment(auth) }
  })
  let stderrTail = ""
  child.stderr?.on("data", (chunk: Buffer | string) => {
    stderrTail = (stderrTail + String(chunk)).slice(-stderrTailBytesMax)
  })
  child.on("error", () => {}) // a failed spawn also ends in `exit`, which is what we report
  let exit: ExitInfo | null = null
  const exited = new Promise<ExitInfo>((resolve) => {
    child.on("exit", (code, signal) => {
      exit = { code, signal, reason: signal ?? (code === 0 ? "exit 0" : `exit ${code}: ${lastLine(stderrTail)}`) }
      resolve(exit)
    })
  })
  return {
    rank: config.rank.rank,
    pid: child.pid ?? -1,
    exit: () => exit,
    exited,
    signal: (name) => {
      if (exit === null) signalByPid(child.pid, name)
    },
    stderrTail: () => stderrTail
  }
}

const secretEnvironment = (auth: NatsAuth): Record<string, string> => {
  switch (auth._tag) {
    case "Token": return { [natsEnvironment.token]: auth.token }
    case "Creds": return { [natsEnvironment.creds]: auth.credsFile }
    case "None": return {}
  }
}

const lastLine = (text: string) => text.trim().split("\n").at(-1) ?? ""

/** SIGCONT, then SIGKILL to every rank, and waits (bounded) for every exit; answers the survivors. */
export const killLocalRanks = async (ranks: ReadonlyArray<LocalRank>, timeoutMs: number): Promise<ReadonlyArray<LocalRank>> => {
  for (const rank of ranks) {
    rank.signal("SIGCONT")
    rank.signal("SIGKILL")
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([Promise.all(ranks.map((rank) => rank.exited)), new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
  clearTimeout(timer)
  return ranks.filter((rank) => rank.exit() === null)
}

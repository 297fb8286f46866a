/**
 * One rank as the parent sees it: a child process, its IPC channel, its exit.
 *
 * `spawnRank` forks the rank program and waits, within `readyTimeoutMs`, for its `ready`
 * message. A rank that exits first, or stays silent, is a start failure that names its exit code
 * and the tail of its stderr (a rank that stays silent is killed first: nothing is left behind).
 * After `ready`, every message the rank sends is decoded with its schema; what does not decode is
 * handed on as malformed, never thrown.
 *
 * Exit detection. The child's `exit` event says how the process ended. Replies the rank wrote
 * just before exiting may still sit in the channel at that moment, so the exit is reported once
 * the channel has closed too (bounded by `channelDrainMs`): a rank's replies always come before
 * its exit, and nothing of the rank comes after. A rank that exits on purpose (shutdown, an
 * injected crash) first sends an `exiting` note and waits for our `exitNoted`, so what it sent
 * before its exit has arrived by then on every runtime.
 */
import { type ChildProcess, fork } from "node:child_process"
import { Data, Result } from "effect"
import type { ExitInfo } from "../../core/control.ts"
import type { RankLaunch } from "./launch.ts"
import { decodeRankMessage, type ParentMessage, type RankMessage } from "./protocol.ts"
import type { RankConfig } from "./rank-config.ts"

/** How long an exit waits for the channel to drain; messages later than this are dropped. */
const channelDrainMs = 200
/** How much of a rank's stderr is kept, for start failures and crash reasons. */
const stderrTailBytesMax = 4_096
/** How long a rank that failed to start gets to close its stderr before we report it. */
const startFailureDrainMs = 300

export type RankSignal = "SIGTERM" | "SIGKILL" | "SIGSTOP" | "SIGCONT"

/** Where a rank's traffic goes once it is ready. Called from the runtime's event callbacks. */
export interface RankEvents {
  readonly message: (rank: number, message: Exclude<RankMessage, { readonly t: "ready" | "exiting" }>) => void
  readonly malformed: (rank: number, reason: string) => void
  readonly exited: (rank: number, exit: ExitInfo) => void
}

export interface RankProcess {
  readonly rank: number
  readonly pid: number
  /** How the rank ended, or null while it runs. */
  readonly exit: () => ExitInfo | null
  /** Resolves when the rank has exited and its `exited` event has been handed on. */
  readonly exited: Promise<ExitInfo>
  /** Writes one message; false when the rank has exited or its channel is closed. */
  readonly send: (message: ParentMessage | unknown) => boolean
  /** Signals the process unless it has already exited. */
  readonly signal: (signal: RankSignal) => void
  readonly stderrTail: () => string
}

/** A rank process that did not start: why, and what it said. */
export class RankStartFailed extends Data.TaggedError("RankStartFailed")<{
  readonly rank: number
  readonly reason: string
  readonly exitCode: number | null
  readonly signal: string | null
  readonly stderrTail: string
}> {
  override get message() {
    const how = this.exitCode !== null ? `exit code ${this.exitCode}` : this.signal !== null ? `signal ${this.signal}` : "still running"
    const said = this.stderrTail.trim().length > 0 ? `; stderr: ${this.stderrTail.trim()}` : "; no stderr output"
    return `rank ${this.rank} did not start: ${this.reason} (${how})${said}`
  }
}

export interface SpawnRankOptions {
  readonly config: RankConfig
  readonly launch: RankLaunch
  readonly readyTimeoutMs: number
  readonly events: RankEvents
}

/** Forks one rank and resolves once it is ready; rejects with `RankStartFailed`. */
export const spawnRank = (options: SpawnRankOptions): Promise<RankProcess> => {
  const { config, launch, events } = options
  const rank = config.rank
  const child = fork(launch.modulePath, [JSON.stringify(config)], {
    ...(launch.execArgv === undefined ? {} : { execArgv: [...launch.execArgv] }),
    // stdout is dropped: a rank printing there would corrupt the parent's own output (--json).
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    serialization: "json"
  })
  let stderrTail = ""
  child.stderr?.on("data", (chunk: Buffer | string) => {
    stderrTail = (stderrTail + String(chunk)).slice(-stderrTailBytesMax)
  })
  // A write racing the rank's exit fails on the channel; the exit itself is what we report.
  child.on("error", () => {})

  let ready = false
  let note: string | null = null
  let exit: ExitInfo | null = null
  let resolveExited: (exit: ExitInfo) => void = () => {}
  const exited = new Promise<ExitInfo>((resolve) => { resolveExited = resolve })

  child.on("message", (raw: unknown) => {
    if (exit !== null) return // Exited is final: nothing of the rank after it
    const decoded = decodeRankMessage(raw)
    if (Result.isFailure(decoded)) return ready ? events.malformed(rank, decoded.failure) : undefined
    const message = decoded.success
    if (message.t === "ready") return void (ready = true)
    if (message.t === "exiting") {
      note = message.reason
      // The rank waits for this before it exits (rank-host.ts): its note is then never lost.
      if (child.connected) child.send({ t: "exitNoted" } satisfies ParentMessage)
      return
    }
    if (ready) events.message(rank, message)
  })

  child.on("exit", (code: number | null, signal: NodeJS.Signals | null) => {
    let done = false
    const finish = () => {
      if (done) return
      done = true
      exit = exitInfo(code, signal, note, stderrTail)
      if (ready) events.exited(rank, exit)
      resolveExited(exit)
    }
    if (!child.connected) return finish()
    child.once("disconnect", finish)
    setTimeout(finish, channelDrainMs)
  })

  const rankProcess: RankProcess = {
    rank,
    pid: child.pid ?? -1,
    exit: () => exit,
    exited,
    send: (message) => {
      if (exit !== null || !child.connected) return false
      child.send(message as object)
      return true
    },
    signal: (name) => {
      if (exit === null) signalByPid(child.pid, name)
    },
    stderrTail: () => stderrTail
  }
  return awaitReady(child, rankProcess, () => ready, options.readyTimeoutMs)
}

/**
 * Resolves once the rank said `ready`; rejects if it exits first or stays silent past the bound
 * (then it is killed, and the rejection waits for its exit: a failed start leaves no process).
 */
const awaitReady = (child: ChildProcess, rank: RankProcess, isReady: () => boolean, readyTimeoutMs: number) =>
  new Promise<RankProcess>((resolve, reject) => {
    let settled = false
    const failed = async (reason: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.removeListener("message", onMessage)
      rank.signal("SIGKILL")
      const exit = await rank.exited
      await streamClosed(child, startFailureDrainMs)
      reject(new RankStartFailed({ rank: rank.rank, reason, exitCode: exit.code, signal: exit.signal, stderrTail: rank.stderrTail() }))
    }
    const onMessage = () => {
      if (!isReady() || settled) return
      settled = true
      clearTimeout(timer)
      child.removeListener("message", onMessage)
      resolve(rank)
    }
    const timer = setTimeout(() => void failed(`no ready message within ${readyTimeoutMs} ms`), readyTimeoutMs)
    child.on("message", onMessage)
    child.once("error", (error) => void failed(`the process could not be started: ${error.message}`))
    void rank.exited.then(() => {
      if (!isReady()) void failed("it exited before it was ready")
    })
  })

const streamClosed = (child: ChildProcess, boundMs: number) =>
  new Promise<void>((resolve) => {
    if (child.stderr === null || child.stderr.readableEnded) return resolve()
    const timer = setTimeout(resolve, boundMs)
    child.stderr.once("close", () => {
      clearTimeout(timer)
      resolve()
    })
  })

/** How a rank ended, for people: its own last word when it exited on purpose, else the signal or code. */
const exitInfo = (code: number | null, signal: NodeJS.Signals | null, note: string | null, stderrTail: string): ExitInfo => {
  if (signal !== null) return { code, signal, reason: signal }
  if (note !== null) return { code, signal, reason: note }
  const lastLine = stderrTail.trim().split("\n").at(-1) ?? ""
  return { code, signal, reason: code === 0 || lastLine === "" ? `exit ${code}` : `exit ${code}: ${lastLine}` }
}

/**
 * Signals a child by pid, not with `child.kill`: Deno's ChildProcess.kill treats its first call as
 * the end of the child (it closes the IPC channel and refuses later signals), which breaks SIGSTOP
 * then SIGCONT, and an ignored SIGTERM. ESRCH means the child is gone and its exit is on its way.
 */
export const signalByPid = (pid: number | undefined, name: NodeJS.Signals): void => {
  if (pid === undefined) return
  try {
    process.kill(pid, name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error
  }
}

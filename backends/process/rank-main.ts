/**
 * The program of one rank process: `child_process.fork` runs this file, once per rank.
 *
 * It decodes its start configuration (argv[2], JSON), builds the worker its `workerKind` names,
 * guards against outliving its parent, starts serving, and says `ready`. Anything wrong before
 * `ready` is a start failure: a message on stderr and a non-zero exit code, which the parent
 * reports with the tail of stderr.
 *
 * No orphans: a rank exits on its own as soon as its IPC channel closes (`disconnect`: the parent
 * died or let go of it), and, as a second line, when its parent process id changes (it was
 * re-parented). A rank never calls `process.disconnect()`: on Node 20 that crashes when the
 * parent has already exited.
 */
import { Result } from "effect"
import { guardAgainstOrphaning } from "./orphan-guard.ts"
import { makeRankFaults } from "./rank-faults.ts"
import { decodeRankConfig } from "./rank-config.ts"
import { makeRankHost, type RankIo } from "./rank-host.ts"
import { isExitNoted, type RankWireMessage } from "./protocol.ts"
import { workerFactories } from "./worker-kinds.ts"

/** Exit codes a parent can tell apart. */
const exitCodes = { badConfiguration: 2, noChannel: 3 } as const

const fail = (code: number, message: string): never => {
  process.stderr.write(`rankwise rank: ${message}\n`)
  process.exit(code)
}

const readConfig = () => {
  let parsed: unknown
  try {
    parsed = JSON.parse(process.argv[2] ?? "")
  } catch (error) {
    return fail(exitCodes.badConfiguration, `the start configuration is not JSON: ${(error as Error).message}`)
  }
  const config = decodeRankConfig(parsed)
  return Result.isFailure(config) ? fail(exitCodes.badConfiguration, `bad start configuration: ${config.failure}`) : config.success
}


/**
 * The process as the host sees it. Writes go out only while the channel is open: after the parent
 * has gone, a write would raise an error event nobody handles, and the rank is exiting anyway.
 */
const processIo = (resistTerminate: () => boolean): RankIo => {
  const send = process.send!.bind(process)
  // While an ignoreTerminate fault is active a SIGTERM is swallowed; once the faults no longer
  // resist it, the handler steps aside and re-raises, so the rank dies by the real signal.
  let holding = false
  const onTerminate = () => {
    if (resistTerminate()) return
    holding = false
    process.removeListener("SIGTERM", onTerminate)
    process.kill(process.pid, "SIGTERM")
  }
  return {
    post: (message) => {
      if (process.connected) send(message)
    },
    noteExit: (reason) => noteExit(send, reason),
    exit: (code) => process.exit(code),
    holdTerminate: (hold) => {
      if (hold === holding) return
      holding = hold
      if (hold) process.on("SIGTERM", onTerminate)
      else process.removeListener("SIGTERM", onTerminate)
    },
    report: (text) => void process.stderr.write(text)
  }
}

/** How long an exiting rank waits for the parent to confirm its `exiting` note. */
const exitNoteWaitMs = 1_000
let confirmExit: () => void = () => {}

/**
 * The rank exits only once the parent confirms it holds the note: the channel is ordered, so every
 * state report and reply sent before it has arrived too. A write callback is not enough: Deno's
 * IPC has been seen to lose a message queued just before `process.exit` after its callback fired.
 * Bounded: a parent that has gone never confirms.
 */
const noteExit = (send: (message: RankWireMessage) => boolean, reason: string) =>
  new Promise<void>((resolve) => {
    if (!process.connected) return resolve()
    const timer = setTimeout(resolve, exitNoteWaitMs)
    confirmExit = () => {
      clearTimeout(timer)
      resolve()
    }
    send({ t: "exiting", reason })
  })

const main = () => {
  if (typeof process.send !== "function") return fail(exitCodes.noChannel, "a rank must be started with an IPC channel (child_process.fork)")
  const config = readConfig()
  guardAgainstOrphaning()
  const hosted = workerFactories[config.workerKind](config)
  const faults = makeRankFaults(config.rank, config.faults)
  const host = makeRankHost(config.rank, hosted, faults, processIo(faults.resistTerminate))
  process.on("message", (raw: unknown) => isExitNoted(raw) ? confirmExit() : host.receive(raw))
  process.send({ t: "ready", rank: config.rank, pid: process.pid } satisfies RankWireMessage)
}

main()

/**
 * Child processes for tests: this backend's CLI commands (fixtures/cli.ts) started the way the
 * rank launcher starts ranks on each runtime, with their output kept for assertions.
 */
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { forkExecArgv } from "../../../backends/nats/launch.ts"
import { currentRuntime, resolveLaunch } from "../../../backends/process/launch.ts"

const cliFixture = fileURLToPath(new URL("./fixtures/cli.ts", import.meta.url))

export interface CliProcess {
  readonly child: ChildProcess
  readonly pid: number
  readonly output: () => string
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null }>
  readonly kill: (signal?: NodeJS.Signals) => void
}

/**
 * Starts `rankwise <args>` as a child process (with an IPC channel, so it cannot outlive us).
 * `launch: "loader"` runs the sources through tsx on Node instead of a bundle in the temp folder:
 * a command that loads onnxruntime-node must resolve it from the repository's node_modules.
 */
export const startCli = async (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  options: { readonly launch?: "auto" | "loader" } = {}
): Promise<CliProcess> => {
  const launch = await resolveLaunch(options.launch === "loader" && currentRuntime() === "node" ? "loader" : "auto", cliFixture)
  const execArgv = forkExecArgv(launch)
  const child = fork(launch.modulePath, [...args], {
    ...(execArgv === undefined ? {} : { execArgv: [...execArgv] }),
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: { ...process.env, ...env }
  })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => void (output += String(chunk)))
  child.stderr?.on("data", (chunk: Buffer) => void (output += String(chunk)))
  child.on("error", () => {})
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })))
  return {
    child,
    pid: child.pid ?? -1,
    output: () => output,
    exited,
    kill: (signal = "SIGKILL") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    }
  }
}

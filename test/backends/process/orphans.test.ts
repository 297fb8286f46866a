/**
 * No orphans: rank processes exit on their own when their parent dies.
 *
 * Goal: users reported worker processes still holding GPUs after the server was killed
 * (DOMAIN.md, section 7). A rank must end when its parent goes, however the parent goes.
 * Method: fork a small parent program that starts two ranks and reports their pids, SIGKILL that
 * parent (no cleanup code of it runs), and check within a bounded wait that both pids are gone.
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { expect, test } from "vitest"
import { resolveLaunch } from "../../../backends/process/launch.ts"
import { pidState, waitUntilGone } from "./pids.ts"

const orphaningParent = fileURLToPath(new URL("./fixtures/orphaning-parent.ts", import.meta.url))

test("when a parent is SIGKILLed, its rank processes exit on their own within seconds", async () => {
  // The parent gets a rank program it can fork directly (the bundle on Node, the source elsewhere).
  const rankLaunch = await resolveLaunch("auto")
  const parentLaunch = await resolveLaunch("auto", orphaningParent)
  const parent = fork(parentLaunch.modulePath, [rankLaunch.modulePath], {
    ...(parentLaunch.execArgv === undefined ? {} : { execArgv: [...parentLaunch.execArgv] }),
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  const parentExited = new Promise<void>((resolve) => parent.once("exit", () => resolve()))
  const pids = await new Promise<ReadonlyArray<number>>((resolve, reject) => {
    parent.once("message", (message) => resolve((message as { pids: ReadonlyArray<number> }).pids))
    parent.once("exit", (code, signal) => reject(new Error(`the parent exited early: ${code ?? signal}`)))
  })
  expect(pids).toHaveLength(2)
  expect(pids.map(pidState)).toEqual(["running", "running"])
  parent.kill("SIGKILL")
  await parentExited
  expect(await waitUntilGone(pids, 5_000)).toEqual([])
})

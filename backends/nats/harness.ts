/**
 * The NATS backend's cluster harness: ranks reached through a NATS server, and the unmodified
 * core executor and engine over them, on the wall clock.
 *
 * It mirrors the process backend's harness (same drive, same dispose order), so drivers (the
 * scenario runner, the conformance suites, `rankwise check --backend nats`) run unchanged. What
 * a factory needs that others do not is where the server is: `natsHarnessFactoryFor({ url,
 * cluster, token })`. By default every start spawns its own ranks on this machine (under a
 * cluster id of its own); with `ranks: "connect"` a start waits for ranks already running
 * (`rankwise rank` on other hosts) to join instead.
 */
import { type ClusterHarness, type HarnessFactory, type HarnessOptions, HarnessStartError } from "../harness.ts"
import { processFaultKinds } from "../process/faults.ts"
import { wallClockHarness } from "../process/harness.ts"
import { type NatsCluster, type NatsClusterOptions, startNatsCluster } from "./cluster.ts"
import { type NatsAuth, resolveNatsAuth } from "./connection.ts"
import type { NatsFaultHandle } from "./fault-handle.ts"

/** A harness over NATS ranks, with the network fault handle and the cluster. */
export interface NatsClusterHarness extends ClusterHarness {
  readonly faults: NatsFaultHandle
  readonly cluster: NatsCluster
}

/** Where the server is and how this engine proves who it is. */
export interface NatsHarnessTarget {
  readonly url: string
  /** The cluster id (with `ranks: "connect"`, the one the ranks were started with). */
  readonly cluster?: string | undefined
  readonly token?: string | undefined
  readonly credsFile?: string | undefined
}

/** NATS-only knobs: liveness bounds, how ranks come to be, how long they get to join. */
export type NatsHarnessExtras = Pick<NatsClusterOptions,
  "ranks" | "heartbeatEveryMs" | "silenceMaxMs" | "joinTimeoutMs" | "controlTimeoutMs" | "launch" | "workerKind" | "observeLocalExits">

/** Starts (or gathers) the ranks and an engine over them; rejects with `HarnessStartError`. */
export const startNatsHarness = async (target: NatsHarnessTarget, options: HarnessOptions, extras: NatsHarnessExtras = {}): Promise<NatsClusterHarness> => {
  const startedMs = performance.now()
  const auth = authOf(target)
  const cluster = await startNatsCluster({
    ...extras, url: target.url, auth, cluster: target.cluster,
    worldSize: options.ranks, outputRank: options.outputRank, model: options.model, faults: options.faults
  }).catch((error: unknown) => {
    throw new HarnessStartError(`the NATS cluster did not start: ${(error as Error).message ?? String(error)}`)
  })
  return wallClockHarness("nats", cluster, options, startedMs)
}

/**
 * A token or credentials file from the target, else from the environment. None at all is allowed
 * on a loopback server only: the engine holds itself to the rule its ranks follow.
 */
const authOf = (target: NatsHarnessTarget): NatsAuth => {
  const auth = resolveNatsAuth({ url: target.url, token: target.token, credsFile: target.credsFile, insecure: true, env: process.env })
  if (auth._tag === "NatsAuthMissing") throw new HarnessStartError(auth.message)
  return auth
}

/** A harness factory whose clusters are NATS ranks. */
export interface NatsHarnessFactory extends HarnessFactory {
  readonly start: (options: HarnessOptions) => Promise<NatsClusterHarness>
}

/** Everything a NATS backend needs: where the server is, and its own knobs. */
export type NatsHarnessFactoryOptions = NatsHarnessTarget & NatsHarnessExtras

/**
 * Ranks over NATS as a backend for drivers: `--backend nats --nats URL --cluster ID`, with
 * `ranks: "connect"` to wait (`joinTimeoutMs`) for that many ranks already running elsewhere.
 * Same fault kinds as the process backend (the rank host is the same); the network faults are
 * extras on the fault handle.
 */
export const natsHarnessFactoryFor = (options: NatsHarnessFactoryOptions): NatsHarnessFactory => {
  const { url, cluster, token, credsFile, ...extras } = options
  return {
    name: "nats",
    virtualTime: false,
    faultKinds: processFaultKinds,
    start: (harnessOptions) => startNatsHarness({ url, cluster, token, credsFile }, harnessOptions, extras)
  }
}

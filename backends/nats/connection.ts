/**
 * Reaching a NATS server: who we are (a token or a credentials file), the loopback rule, and
 * bounded connects and reconnects.
 *
 * Ranks on other hosts run calls an engine sends them, so anyone who can publish on the cluster's
 * subjects can drive them. A rank therefore refuses to start without credentials; the one
 * exception is `insecure` on a loopback URL, where only processes on this machine can reach the
 * server (tests, a laptop). A non-loopback URL with `insecure` is refused too, with the reason:
 * a flag must not open a rank to the network by accident.
 *
 * Reconnects are bounded: a client retries every `reconnectTimeWaitMs` for at most
 * `reconnectWindowMs`, then its connection closes for good and its owner decides (a rank exits, an
 * engine's heartbeats have long declared the ranks dead by then).
 */
import { readFileSync } from "node:fs"
import { Data } from "effect"
import { connect, credsAuthenticator, type NatsConnection } from "nats"

/** How a client proves who it is. `None` only ever passes `resolveNatsAuth` on loopback. */
export type NatsAuth =
  | { readonly _tag: "Token"; readonly token: string }
  | { readonly _tag: "Creds"; readonly credsFile: string }
  | { readonly _tag: "None" }

/** A server and how to authenticate to it. */
export interface NatsEndpoint {
  readonly url: string
  readonly auth: NatsAuth
}

/** Environment variables that carry secrets, so they never appear on a command line (`ps`). */
export const natsEnvironment = { token: "RANKWISE_NATS_TOKEN", creds: "RANKWISE_NATS_CREDS" } as const

/** No credentials, and the URL is not one where that is allowed. */
export class NatsAuthMissing extends Data.TaggedError("NatsAuthMissing")<{
  readonly url: string
  readonly reason: string
}> {
  override get message() { return `refusing to connect to ${this.url}: ${this.reason}` }
}

/** The first connect did not succeed within its bound. */
export class NatsConnectFailed extends Data.TaggedError("NatsConnectFailed")<{
  readonly url: string
  readonly reason: string
}> {
  override get message() { return `could not connect to NATS at ${this.url}: ${this.reason}` }
}

/** Where the credentials may come from; flags win over the environment. */
export interface AuthSources {
  readonly url: string
  readonly token?: string | undefined
  readonly credsFile?: string | undefined
  readonly insecure?: boolean | undefined
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/** Picks the credentials, or refuses: no credentials is allowed only with `insecure` on loopback. */
export const resolveNatsAuth = (sources: AuthSources): NatsAuth | NatsAuthMissing => {
  const env = sources.env ?? {}
  if (sources.token !== undefined && sources.credsFile !== undefined) {
    return new NatsAuthMissing({ url: sources.url, reason: "give a token or a credentials file, not both" })
  }
  const token = sources.token ?? (sources.credsFile === undefined ? env[natsEnvironment.token] : undefined)
  const credsFile = sources.credsFile ?? (token === undefined ? env[natsEnvironment.creds] : undefined)
  if (token !== undefined && token.length > 0) return { _tag: "Token", token }
  if (credsFile !== undefined && credsFile.length > 0) return { _tag: "Creds", credsFile }
  if (!sources.insecure) {
    return new NatsAuthMissing({
      url: sources.url,
      reason: `no credentials: pass --token or --creds (or set ${natsEnvironment.token} / ${natsEnvironment.creds}); --insecure is allowed on a loopback URL only`
    })
  }
  if (!isLoopbackUrl(sources.url)) {
    return new NatsAuthMissing({ url: sources.url, reason: "--insecure is allowed only on a loopback URL (127.0.0.0/8, localhost, [::1])" })
  }
  return { _tag: "None" }
}

/** True when every server in `url` (a comma list is allowed) is on this machine. */
export const isLoopbackUrl = (url: string): boolean => {
  const servers = url.split(",").map((server) => server.trim()).filter((server) => server.length > 0)
  return servers.length > 0 && servers.every((server) => isLoopbackHost(hostOf(server)))
}

const hostOf = (server: string): string | undefined => {
  try {
    return new URL(server.includes("://") ? server : `nats://${server}`).hostname.toLowerCase()
  } catch {
    return undefined
  }
}

const isLoopbackHost = (host: string | undefined): boolean => {
  if (host === undefined) return false
  if (host === "localhost" || host === "[::1]" || host === "::1") return true
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)
  return octets !== null && octets[1] === "127" && octets.slice(1).every((octet) => Number(octet) <= 255)
}

export interface ConnectOptions {
  /** Shown in the server's connection list (`rankwise-rank-3`, `rankwise-engine`). */
  readonly name: string
  /** Bound on the first connect. */
  readonly connectTimeoutMs: number
  readonly reconnectTimeWaitMs: number
  /** How long reconnects are tried after a disconnect before the connection closes for good. */
  readonly reconnectWindowMs: number
}

export const connectDefaults: Omit<ConnectOptions, "name"> = {
  connectTimeoutMs: 5_000,
  reconnectTimeWaitMs: 250,
  reconnectWindowMs: 60_000
}

/** Connects with bounded retries; rejects with `NatsConnectFailed` (never a raw library error). */
export const connectNats = async (endpoint: NatsEndpoint, options: ConnectOptions): Promise<NatsConnection> => {
  try {
    return await connect({
      servers: endpoint.url.split(",").map((server) => server.trim()),
      name: options.name,
      timeout: options.connectTimeoutMs,
      reconnect: true,
      reconnectTimeWait: options.reconnectTimeWaitMs,
      reconnectJitter: Math.min(100, options.reconnectTimeWaitMs),
      maxReconnectAttempts: Math.max(1, Math.ceil(options.reconnectWindowMs / options.reconnectTimeWaitMs)),
      // A dead TCP peer is noticed by pings when the socket does not close (a pulled cable).
      pingInterval: 10_000,
      maxPingOut: 3,
      ...authOptions(endpoint.auth)
    })
  } catch (error) {
    throw new NatsConnectFailed({ url: endpoint.url, reason: describeNatsError(error) })
  }
}

const authOptions = (auth: NatsAuth) => {
  switch (auth._tag) {
    case "Token": return { token: auth.token }
    case "Creds": return { authenticator: credsAuthenticator(readFileSync(auth.credsFile)) }
    case "None": return {}
  }
}

/** A library error as one line: its code when it has one. */
export const describeNatsError = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const { code, message } = error as { readonly code?: unknown; readonly message?: unknown }
    if (typeof message === "string" && typeof code === "string" && !message.includes(code)) return `${message} (${code})`
    if (typeof message === "string") return message
  }
  return String(error)
}

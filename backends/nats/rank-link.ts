/**
 * A rank's link to the NATS server: one connection at a time, its subscriptions, and the
 * disconnect fault.
 *
 * `disconnectFor(ms)` closes the connection for real (the server sees the client go, nothing
 * reaches the rank, nothing leaves it), then connects again and subscribes again. What the rank
 * sent meanwhile waits in the outbox and leaves in order once the link is back, as it would after
 * a real partition heals. Server restarts are the client library's business: it reconnects
 * within its bounded window; if that runs out the connection closes for good, and `onLost` tells
 * the rank, which exits (a rank that cannot reach its engine serves nobody).
 */
import type { NatsConnection, Subscription } from "nats"
import { connectDefaults, connectNats, describeNatsError, type NatsEndpoint } from "./connection.ts"
import { makeOutbox, type Outbox } from "./outbox.ts"
import { encodeMessage } from "./protocol.ts"

export interface RankLink {
  /** Through the outbox: ordered, delayed and held by the network faults. */
  readonly send: (subject: string, message: unknown) => void
  /** Straight to the client, bypassing the outbox (control answers, the exit note). */
  readonly sendNow: (subject: string, message: unknown) => void
  /** A request/reply round trip; undefined on timeout, no responders, or a link that is down. */
  readonly request: (subject: string, message: unknown, timeoutMs: number) => Promise<Uint8Array | undefined>
  /** False while cut off: the rank then ignores what still arrives, as if it never had. */
  readonly connected: () => boolean
  /** Cuts the link now (synchronously), reconnects after `durationMs`. */
  readonly disconnectFor: (durationMs: number) => Promise<void>
  readonly outbox: Outbox
  /** Waits (bounded) until what was handed to the client has reached the server. */
  readonly flush: (timeoutMs: number) => Promise<void>
  readonly close: () => Promise<void>
}

export interface RankLinkOptions {
  readonly endpoint: NatsEndpoint
  readonly name: string
  /** Subscribes the rank's handlers on a fresh connection (after every reconnect by the fault). */
  readonly subscribe: (connection: NatsConnection) => ReadonlyArray<Subscription>
  /** The connection closed for good (reconnects ran out). */
  readonly onLost: (reason: string) => void
  /** Messages the outbox may hold while the link is down. */
  readonly heldMax: number
}

/** How long a cut waits for the client's last writes before it closes the socket. */
const cutFlushMs = 300

export const openRankLink = async (options: RankLinkOptions): Promise<RankLink> => {
  let connection: NatsConnection = await connectNats(options.endpoint, { ...connectDefaults, name: options.name })
  let down = false
  let closing = false

  const watch = (watched: NatsConnection) => {
    void watched.closed().then((error) => {
      // Our own close (the fault, or the rank leaving) is not a loss.
      if (watched !== connection || down || closing) return
      options.onLost(error ? describeNatsError(error) : "the connection closed")
    })
  }

  const publish = (subject: string, data: Uint8Array): boolean => {
    if (down || connection.isClosed()) return false
    try {
      connection.publish(subject, data)
      return true
    } catch {
      return false
    }
  }

  const outbox = makeOutbox(publish, options.heldMax)
  options.subscribe(connection)
  watch(connection)

  // The cut takes effect at once (nothing more is read or sent); the socket closes once what was
  // already handed to the client (the answer that the fault landed) has reached the server.
  const disconnectFor = async (durationMs: number) => {
    if (down) return
    down = true
    outbox.hold()
    await Promise.race([connection.flush().catch(() => undefined), delay(cutFlushMs)])
    await connection.close().catch(() => undefined)
    await delay(durationMs)
    if (closing) return
    // Reconnect attempts are bounded by the client's own window; a failure here is a lost link.
    try {
      connection = await connectNats(options.endpoint, { ...connectDefaults, name: options.name })
    } catch (error) {
      return options.onLost(describeNatsError(error))
    }
    options.subscribe(connection)
    watch(connection)
    down = false
    outbox.resume()
  }

  const request = async (subject: string, message: unknown, timeoutMs: number) => {
    if (down || connection.isClosed()) return undefined
    try {
      return (await connection.request(subject, encodeMessage(message), { timeout: timeoutMs })).data
    } catch {
      return undefined
    }
  }

  return {
    send: (subject, message) => outbox.send(subject, encodeMessage(message)),
    sendNow: (subject, message) => void publish(subject, encodeMessage(message)),
    request,
    connected: () => !down && !connection.isClosed(),
    disconnectFor,
    outbox,
    flush: async (timeoutMs) => {
      if (down || connection.isClosed()) return
      await Promise.race([connection.flush().catch(() => undefined), delay(timeoutMs)])
    },
    close: async () => {
      closing = true
      outbox.dropPending()
      await Promise.race([connection.close().catch(() => undefined), delay(1_000)])
    }
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

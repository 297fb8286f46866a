/**
 * Round-trip helpers shared by the wall-clock collective benchmarks (process and NATS): one
 * transport round without the executor, and the percentiles the reports print.
 */
import { Effect } from "effect"
import type { RankTransportShape } from "../core/transport.ts"

/**
 * Installs the transport's one listener and answers a function that runs one round: a
 * `checkHealth` wave to every rank, resolved with its milliseconds once every rank's decoded
 * reply has arrived. What the rank processes and the transport cost, without the executor.
 */
export const transportRounds = async (transport: RankTransportShape): Promise<() => Promise<number>> => {
  let pending = 0
  let done: () => void = () => {}
  await Effect.runPromise(transport.listen((event) => {
    if (event._tag === "Reply" && --pending === 0) done()
  }))
  const targets = Array.from({ length: transport.worldSize }, (_, rank) => rank)
  let waveId = 0
  return () => new Promise<number>((resolve) => {
    const startedMs = performance.now()
    done = () => resolve(performance.now() - startedMs)
    pending = targets.length
    Effect.runSync(transport.send({ waveId: ++waveId, call: { method: "checkHealth" } }, targets))
  })
}

const percentile = (sorted: ReadonlyArray<number>, fraction: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]

/** The p50 and p99 of round times. */
export const summary = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}

// Goal: the workload is a pure function of its seed, spans exactly its duration at about its rate,
// and every operation it draws is one the engine accepts as input (requests decode, adapters and
// sleep levels fit the worker's call schema), with aborts and awaits aimed where they matter.
// Method: fast-check draws seeds; each property generates a schedule from a `workload` stream and
// checks it with the engine's own decoders. Counts use loose statistical bounds (50%-150% of the
// mean for thousands of expected arrivals), so they hold for every seed in practice.
import { fc, test } from "@fast-check/vitest"
import { Result, Schema } from "effect"
import { describe, expect } from "vitest"
import { InvariantViolation } from "../../../core/assert.ts"
import { makeStream } from "../../../core/random.ts"
import { compatibilityKey, decodeRequest } from "../../../core/request.ts"
import { WorkerCall } from "../../../core/worker.ts"
import { generateWorkload, type ScheduledOp, type WorkloadConfig, type WorkloadOp } from "../../../simulator/workload.ts"

const seedArbitrary = fc.integer({ min: 0, max: 0xffff_ffff })
const config: WorkloadConfig = { durationMs: 60_000, opsPerSecond: 20 }
const generate = (seed: number, overrides: Partial<WorkloadConfig> = {}) =>
  generateWorkload(makeStream(seed, "workload"), { ...config, ...overrides })

const submits = (schedule: ReadonlyArray<ScheduledOp>) =>
  schedule.flatMap(({ op }) => (op._tag === "submit" ? [op] : []))

/** The worker call an engine operation sends, where the op maps to one. */
const workerCallOf = (op: WorkloadOp): unknown => {
  switch (op._tag) {
    case "addLora": return { method: "addLora", adapter: op.adapter }
    case "removeLora": return { method: "removeLora", adapterId: op.adapterId }
    case "pinLora": return { method: "pinLora", adapterId: op.adapterId }
    case "sleep": return { method: "sleep", level: op.level }
    case "wakeUp": return { method: "wakeUp", tags: op.tags }
    default: return undefined
  }
}

describe("generateWorkload", () => {
  test.prop([seedArbitrary], { numRuns: 20 })("the same seed gives the same schedule", (seed) => {
    expect(generate(seed)).toEqual(generate(seed))
  })

  test.prop([seedArbitrary, fc.integer({ min: 0, max: 100_000 })], { numRuns: 50 })(
    "times are whole milliseconds, non-decreasing, within [0, durationMs]",
    (seed, durationMs) => {
      const schedule = generate(seed, { durationMs })
      schedule.forEach(({ atMs }, index) => {
        expect(Number.isInteger(atMs)).toBe(true)
        expect(atMs).toBeGreaterThanOrEqual(index === 0 ? 0 : schedule[index - 1].atMs)
        expect(atMs).toBeLessThanOrEqual(durationMs)
      })
    }
  )

  test.prop([seedArbitrary, fc.integer({ min: 5, max: 50 })], { numRuns: 20 })(
    "the count is near rate x duration when thousands of arrivals are expected",
    (seed, opsPerSecond) => {
      const durationMs = 200_000
      const expected = (durationMs / 1000) * opsPerSecond
      const count = generate(seed, { durationMs, opsPerSecond }).length
      expect(count).toBeGreaterThan(expected * 0.5)
      expect(count).toBeLessThan(expected * 1.5)
    }
  )

  test.prop([seedArbitrary], { numRuns: 20 })(
    "every request decodes with the engine's decoder, has a seed and a unique id, and keeps to the small shapes",
    (seed) => {
      const requests = submits(generate(seed)).map((op) => op.request)
      expect(new Set(requests.map((request) => request.requestId)).size).toBe(requests.length)
      for (const input of requests) {
        const decoded = decodeRequest(input)
        if (Result.isFailure(decoded)) throw new Error(`${input.requestId}: ${decoded.failure.message}`)
        const request = decoded.success
        expect(request.seed).toBeDefined()
        expect([16, 32, 64]).toContain(request.height)
        expect([16, 32, 64]).toContain(request.width)
        expect(request.steps).toBeGreaterThanOrEqual(1)
        expect(request.steps).toBeLessThanOrEqual(20)
        expect([1, 2]).toContain(request.outputsPerPrompt)
        if (request.outputType === "video") expect([request.frames >= 2 && request.frames <= 4, request.fps]).toEqual([true, 8])
        else expect(request.frames).toBe(1)
      }
    }
  )

  test.prop([seedArbitrary], { numRuns: 20 })(
    "compatibility keys repeat: without adapters, requests fall into at most five keys",
    (seed) => {
      const keys = submits(generate(seed)).map((op) => {
        const decoded = decodeRequest({ ...op.request, lora: undefined })
        return Result.isSuccess(decoded) ? compatibilityKey(decoded.success) : "invalid"
      })
      expect(new Set(keys).size).toBeLessThanOrEqual(5)
      expect(keys.length).toBeGreaterThan(new Set(keys).size)
    }
  )

  test.prop([seedArbitrary, fc.integer({ min: 1, max: 8 })], { numRuns: 20 })(
    "every control operation decodes as the worker call it sends, with adapter ids in 1..adapterIdsMax",
    (seed, adapterIdsMax) => {
      for (const { op } of generate(seed, { adapterIdsMax })) {
        const call = workerCallOf(op)
        if (call !== undefined) expect(Schema.decodeUnknownResult(WorkerCall)(call)._tag).toBe("Success")
        const adapterId = op._tag === "addLora" ? op.adapter.id : op._tag === "removeLora" || op._tag === "pinLora" ? op.adapterId : undefined
        if (adapterId !== undefined) expect(adapterId >= 1 && adapterId <= adapterIdsMax).toBe(true)
      }
    }
  )

  test.prop([seedArbitrary], { numRuns: 20 })(
    "aborts target an earlier request or an id never submitted; awaits target an earlier unwaited request or one never submitted",
    (seed) => {
      const submitted = new Map<string, boolean>()
      for (const { op } of generate(seed)) {
        if (op._tag === "submit") submitted.set(op.request.requestId, op.wait)
        if (op._tag === "abort") expect(submitted.has(op.requestId) || op.requestId.startsWith("unknown-")).toBe(true)
        if (op._tag === "await") expect(submitted.get(op.requestId) === false || op.requestId.startsWith("unknown-")).toBe(true)
      }
    }
  )

  test.prop([seedArbitrary], { numRuns: 10 })(
    "a weight of 0 leaves a kind out, and close carries its own timeout",
    (seed) => {
      const withoutClose = generate(seed, { mix: { close: 0 } })
      expect(withoutClose.some(({ op }) => op._tag === "close")).toBe(false)
      const onlyClose = generate(seed, {
        durationMs: 5_000,
        mix: { submit: 0, await: 0, abort: 0, addLora: 0, removeLora: 0, pinLora: 0, listLoras: 0, sleep: 0, wakeUp: 0, checkHealth: 0, close: 1 },
        timeoutMs: { control: 700, close: 1_234 }
      })
      expect(onlyClose.length).toBeGreaterThan(0)
      for (const { op, timeoutMs } of onlyClose) expect([op, timeoutMs]).toEqual([{ _tag: "close", timeoutMs: 1_234 }, 1_234])
    }
  )

  test("a configuration without a rate, or with no positive weight, is refused as our bug", () => {
    expect(() => generate(1, { opsPerSecond: 0 })).toThrow(InvariantViolation)
    const zero = { submit: 0, await: 0, abort: 0, addLora: 0, removeLora: 0, pinLora: 0, listLoras: 0, sleep: 0, wakeUp: 0, checkHealth: 0, close: 0 }
    expect(() => generate(1, { mix: zero })).toThrow(InvariantViolation)
  })
})

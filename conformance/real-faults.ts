/**
 * Real-fault scenarios: what the main job does to real rank processes.
 *
 * The conformance properties generate faults; these four scenarios are the fixed, readable
 * checks a newcomer sees run against OS processes: a rank SIGKILLed in the middle of a request,
 * a rank that fails `addLora` (so the engine must compensate), a rank SIGSTOPped while the engine
 * closes (close must still return within its bound and leave nothing running), and sleep/wake
 * while requests are queued. Each states what it must produce; `runScenario` checks it. Timing
 * never decides an outcome: the request that a rank is killed in is held in the rank by an
 * in-rank `slow` fault, so the kill always lands mid-request.
 */
import { Result } from "effect"
import { decodeScenario, type Scenario } from "../simulator/scenario/format.ts"

export interface RealFaultScenario {
  readonly name: string
  readonly description: string
  readonly scenario: Scenario
}

const request = (requestId: string, extra: Record<string, unknown> = {}) =>
  ({ requestId, prompt: "a lighthouse at dusk", steps: 8, height: 64, width: 64, seed: 7, ...extra })

const inputs: ReadonlyArray<{ name: string; description: string; scenario: unknown }> = [
  {
    name: "sigkill-mid-request",
    description: "SIGKILL rank 1 while it computes a request: the request fails naming rank 1 Crashed, later work fails fast",
    scenario: {
      ranks: 3,
      faults: [{ rank: 1, method: "execute", kind: "slow", delayMs: 3_000, count: 1 }],
      engine: { executeTimeoutMs: 20_000 },
      steps: [
        { op: "submit", wait: false, request: request("held") },
        { op: "advance", ms: 300 },
        { op: "kill", rank: 1 },
        { op: "await", requestId: "held", expect: { ok: false, error: "CollectiveRpcError" } },
        { op: "submit", request: request("after"), expect: { ok: false, error: "ExecutorDead" } },
        { op: "close", timeoutMs: 3_000, expect: { ok: true } }
      ],
      expectFinal: { engineState: "closed", ranks: [{ rank: 0, alive: false }, { rank: 1, alive: false }, { rank: 2, alive: false }] }
    }
  },
  {
    name: "addlora-fails-on-one-rank",
    description: "addLora throws on rank 1: the engine removes the adapter from ranks 0 and 2 and reports both",
    scenario: {
      ranks: 3,
      faults: [{ rank: 1, method: "addLora", kind: "throw", count: 1 }],
      steps: [
        { op: "addLora", adapter: { id: 1, name: "adapter-1" }, expect: { ok: false, error: "ControlFailed", outcomes: ["Ok", "Failed", "Ok"] } },
        { op: "listLoras", expect: { ok: true, outcomes: ["Ok", "Ok", "Ok"] } },
        { op: "addLora", adapter: { id: 1, name: "adapter-1" }, expect: { ok: true } },
        { op: "submit", request: request("styled", { lora: { id: 1, name: "adapter-1" } }), expect: { ok: true } },
        { op: "close", timeoutMs: 3_000, expect: { ok: true } }
      ],
      expectFinal: { engineState: "closed", ranks: [{ rank: 0, loras: [1] }, { rank: 1, loras: [1] }, { rank: 2, loras: [1] }] }
    }
  },
  {
    name: "sigstop-during-close",
    description: "SIGSTOP rank 2, then close: the frozen rank ignores the graceful stop and SIGTERM, SIGKILL ends it, close returns within its bound",
    scenario: {
      ranks: 3,
      steps: [
        { op: "submit", request: request("before"), expect: { ok: true } },
        { op: "stop", rank: 2, expect: { ok: true } },
        { op: "close", timeoutMs: 3_000, expect: { ok: true } },
        { op: "close", timeoutMs: 3_000, expect: { ok: true } }
      ],
      expectFinal: { engineState: "closed", ranks: [{ rank: 0, alive: false }, { rank: 1, alive: false }, { rank: 2, alive: false }] }
    }
  },
  {
    name: "sleep-wake-under-load",
    description: "sleep while requests are queued: queued work ends EngineAsleep, not hanging; after wake requests succeed",
    scenario: {
      ranks: 2,
      steps: [
        { op: "submit", wait: false, request: request("q1", { steps: 50 }) },
        { op: "submit", wait: false, request: request("q2", { steps: 50, height: 32, width: 32 }) },
        { op: "sleep", level: 1, expect: { ok: true } },
        { op: "submit", request: request("asleep"), expect: { ok: false, error: "EngineAsleep" } },
        { op: "wakeUp", tags: ["weights", "kv_cache"], expect: { ok: true } },
        { op: "wakeUp", tags: ["weights", "kv_cache"], expect: { ok: true } },
        { op: "submit", request: request("awake"), expect: { ok: true } },
        { op: "close", timeoutMs: 3_000, expect: { ok: true } }
      ],
      expectFinal: { engineState: "closed", ranks: [{ rank: 0, asleep: false }, { rank: 1, asleep: false }] }
    }
  }
]

/** The real-fault scenarios, decoded (a broken one here is our bug, so it throws). */
export const realFaultScenarios: ReadonlyArray<RealFaultScenario> = inputs.map((input) => {
  const decoded = decodeScenario(input.scenario)
  if (Result.isFailure(decoded)) throw new Error(`real-fault scenario ${input.name}: ${decoded.failure.message}`)
  return { name: input.name, description: input.description, scenario: decoded.success }
})

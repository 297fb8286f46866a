/**
 * Goal: sessions open on the first execution provider that works, and the report says which one
 * and why each earlier one failed; a list where none works is a typed NoProvider naming every
 * failure. This machine has no CUDA provider library, which is exactly the fallback case.
 * Method: open the small model with ["cuda", "cpu"], ["cpu"], ["cuda"] and an unknown provider.
 */
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { buildModel } from "../../../backends/onnx/model.ts"
import { openSessions, releaseSessions } from "../../../backends/onnx/sessions.ts"
import { smallModel } from "./fixtures.ts"

const model = buildModel(smallModel)

describe("openSessions", () => {
  it("[\"cuda\", \"cpu\"] ends on cpu with a report naming the cuda failure (or on cuda where it loads)", async () => {
    const sessions = await Effect.runPromise(openSessions(model.graphs, ["cuda", "cpu"]))
    if (sessions.report.provider === "cuda") expect(sessions.report.tried).toEqual([])
    else {
      expect(sessions.report.provider).toBe("cpu")
      expect(sessions.report.tried).toHaveLength(1)
      expect(sessions.report.tried[0].provider).toBe("cuda")
      expect(sessions.report.tried[0].error).toMatch(/cuda/i)
    }
    await Effect.runPromise(releaseSessions(sessions))
  })

  it("passes over a provider that fails and reports its error", async () => {
    const sessions = await Effect.runPromise(openSessions(model.graphs, ["no-such-provider", "cpu"]))
    expect(sessions.report.provider).toBe("cpu")
    expect(sessions.report.tried.map((attempt) => attempt.provider)).toEqual(["no-such-provider"])
    expect(sessions.report.tried[0].error.length).toBeGreaterThan(0)
    await Effect.runPromise(releaseSessions(sessions))
  })

  it("[\"cpu\"] opens on cpu with nothing passed over", async () => {
    const sessions = await Effect.runPromise(openSessions(model.graphs, ["cpu"]))
    expect(sessions.report).toEqual({ provider: "cpu", tried: [] })
    await Effect.runPromise(releaseSessions(sessions))
  })

  it("a list where no provider works fails with NoProvider naming each failure", async () => {
    const exit = await Effect.runPromiseExit(openSessions(model.graphs, ["no-such-provider", "another-missing-provider"]))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    expect(error?._tag).toBe("Fail")
    const failure = error?._tag === "Fail" ? error.error : undefined
    expect(failure?._tag).toBe("NoProvider")
    expect(failure?.tried.map((attempt) => attempt.provider)).toEqual(["no-such-provider", "another-missing-provider"])
    expect(failure?.message).toMatch(/no-such-provider: .+; another-missing-provider: .+/)
  })
})

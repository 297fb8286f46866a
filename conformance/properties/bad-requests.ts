/**
 * API-3: a bad request gets a typed `InvalidRequest`, and no rank ever sees it.
 *
 * Upstream passed unchecked dicts to the ranks: a typo was ignored, a 100k x 100k image ran the
 * ranks out of memory, a wrong type crashed a worker. Method: arbitrary values (anything that is
 * not an object with both required keys) and valid requests with one field corrupted in a way
 * the request contract refuses. Each must fail with `InvalidRequest` (a typed failure, not a
 * defect); afterwards every rank is alive and a valid request still succeeds.
 */
import * as fc from "fast-check"
import { describeCause, failureOf, settle, snapshot, succeed, tagOf, withCluster } from "../cluster.ts"
import { validRequest } from "../cases.ts"
import { type ConformanceProperty, expectThat } from "../property.ts"

type Corruption = readonly [label: string, apply: (request: Record<string, unknown>) => unknown]

/** Ways to break a valid request, each refused by the request contract (core/request.ts, DESIGN.md). */
const corruptions: ReadonlyArray<Corruption> = [
  ["requestId missing", ({ requestId: _, ...rest }) => rest],
  ["prompt missing", ({ prompt: _, ...rest }) => rest],
  ["requestId empty", (request) => ({ ...request, requestId: "" })],
  ["requestId a number", (request) => ({ ...request, requestId: 5 })],
  ["prompt a number", (request) => ({ ...request, prompt: 42 })],
  ["height zero", (request) => ({ ...request, height: 0 })],
  ["width negative", (request) => ({ ...request, width: -16 })],
  ["height fractional", (request) => ({ ...request, height: 15.5 })],
  ["height a string", (request) => ({ ...request, height: "512" })],
  ["image too large", (request) => ({ ...request, height: 100_000, width: 100_000 })],
  ["steps zero", (request) => ({ ...request, steps: 0 })],
  ["steps too many", (request) => ({ ...request, steps: 1_000_000 })],
  ["frames for an image", (request) => ({ ...request, frames: 4 })],
  ["outputsPerPrompt too many", (request) => ({ ...request, outputsPerPrompt: 1_000 })],
  ["seed negative", (request) => ({ ...request, seed: -1 })],
  ["guidanceScale negative", (request) => ({ ...request, guidanceScale: -2 })],
  ["fps not finite", (request) => ({ ...request, fps: Number.POSITIVE_INFINITY })],
  ["outputType unknown", (request) => ({ ...request, outputType: "gif" })],
  ["unknown key", (request) => ({ ...request, num_steps: 10 })],
  ["lora id zero", (request) => ({ ...request, lora: { id: 0, name: "style" } })],
  ["lora not loaded", (request) => ({ ...request, lora: { id: 9, name: "style" } })],
  ["lora a string", (request) => ({ ...request, lora: "style" })],
  ["prompt too long", (request) => ({ ...request, prompt: "x".repeat(100_000) })],
  ["null field", (request) => ({ ...request, negativePrompt: null })]
]

interface BadInput { readonly label: string; readonly input: unknown }

const corrupted: fc.Arbitrary<BadInput> = fc.constantFrom(...corruptions).map(([label, apply]) => ({
  label,
  input: apply(validRequest("bad-request"))
}))

/** Anything but an object holding both required keys: such a value can never be a valid request. */
const arbitrary: fc.Arbitrary<BadInput> = fc.anything()
  .filter((value) => !(typeof value === "object" && value !== null && "requestId" in value && "prompt" in value))
  .map((input) => ({ label: `anything ${fc.stringify(input).slice(0, 60)}`, input }))

const badRequestsCase = fc.record({
  ranks: fc.integer({ min: 1, max: 3 }),
  seed: fc.nat({ max: 0x7fff_ffff }),
  inputs: fc.array(fc.oneof(corrupted, arbitrary), { minLength: 1, maxLength: 5 })
})

export const badRequestsAreTyped: ConformanceProperty = {
  id: "API-3",
  statement: "a bad request fails with a typed InvalidRequest, no rank dies, and a valid request still succeeds",
  run: (factory, options) =>
    fc.asyncProperty(badRequestsCase, (testCase) =>
      withCluster(factory, options, { ranks: testCase.ranks, seed: testCase.seed }, async (harness) => {
        for (const { label, input } of testCase.inputs) {
          const exit = await settle(harness, `submit(${label})`, harness.engine.submit(input))
          const error = failureOf(exit)
          const outcome = exit._tag === "Success" ? "success" : describeCause(exit.cause)
          expectThat(tagOf(error?.value) === "InvalidRequest", `submit(${label}) must fail with InvalidRequest, it ended with ${outcome}`)
        }
        const now = await snapshot(harness)
        const dead = now.truth.filter((rank) => !rank.alive).map((rank) => rank.rank)
        expectThat(dead.length === 0, `ranks ${dead.join(", ")} died of bad requests`)
        await succeed(harness, "a valid request after the bad ones", harness.engine.submit(validRequest("good-request")))
      }))
}

/**
 * Pictures for the main job's report, where a person would rather look than read: one prompt
 * generated on real ONNX ranks before and with a LoRA adapter, and again after the ranks slept
 * and woke. The captions say whether the images that must be bit-identical are.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Exit } from "effect"
import type { ClusterHarness, HarnessFactory } from "../backends/harness.ts"
import { type ImageItem, itemRgb } from "../backends/onnx/batch-plan.ts"
import { encodePng } from "../backends/onnx/png.ts"
import type { ReportImage } from "../report/model.ts"

const stepBudgetMs = 60_000
const adapter = { id: 1, name: "adapter-1" }
const request = (requestId: string, lora: boolean) => ({
  requestId, prompt: "a lighthouse at dusk", steps: 20, height: 64, width: 64, seed: 7,
  ...(lora ? { lora: { ...adapter, scale: 1 } } : {})
})

/** Makes the images on `backend` (only the ONNX backend makes images) into `folder`. */
export const makeReportImages = async (backend: HarnessFactory, folder: string): Promise<ReadonlyArray<ReportImage>> => {
  if (backend.name !== "onnx") return []
  const harness = await backend.start({ ranks: 2, seed: 1 })
  try {
    const base = await generate(harness, request("base", false))
    await run(harness, harness.engine.addLora(adapter))
    const styled = await generate(harness, request("styled", true))
    await run(harness, harness.engine.removeLora(adapter.id))
    await run(harness, harness.engine.sleep(1))
    await run(harness, harness.engine.wakeUp(["weights", "kv_cache"]))
    const woken = await generate(harness, request("woken", false))
    const same = (left: ImageItem, right: ImageItem) => left.rgb === right.rgb
    return [
      save(folder, "image-base.png", base, "before LoRA: base model"),
      save(folder, "image-lora.png", styled, `after LoRA: adapter 1 applied (${same(base, styled) ? "SAME as base: the adapter changed nothing" : "differs from base"})`),
      save(folder, "image-after-wake.png", woken, `after sleep(1) and wake (${same(base, woken) ? "bit-identical to before sleep" : "DIFFERS from before sleep"})`)
    ]
  } finally {
    await harness.dispose()
  }
}

const run = async <A, E>(harness: ClusterHarness, effect: Effect.Effect<A, E>): Promise<A> => {
  const result = await harness.run(effect, stepBudgetMs)
  if (result._tag !== "Done") throw new Error(`no answer within ${stepBudgetMs} ms`)
  if (Exit.isFailure(result.exit)) throw new Error(String(result.exit.cause))
  return result.exit.value
}

const generate = async (harness: ClusterHarness, input: ReturnType<typeof request>): Promise<ImageItem> => {
  const output = await run(harness, harness.engine.submit(input))
  const image = output.output.payload.find((payload) => payload._tag === "image")
  const item = image?.items[0] as ImageItem | undefined
  if (item === undefined) throw new Error("the output holds no image")
  return item
}

const save = (folder: string, file: string, item: ImageItem, caption: string): ReportImage => {
  writeFileSync(join(folder, file), encodePng({ width: item.width, height: item.height, rgb: itemRgb(item) }))
  return { caption, file }
}

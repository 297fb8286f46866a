/**
 * Goal: the timeline draws one lane per track (engine, executor, each rank), a bar per span and a
 * tick per instant, packs overlapping spans into separate sub-lanes, escapes trace text, and stays
 * bounded on long runs. Method: the sample trace, then a synthetic trace past the event bound.
 */
import { describe, expect, test } from "vitest"
import { layoutTracks, niceStep, timelineEventsMax, timelineSection, tracksOf } from "../../report/timeline.ts"
import type { TraceEvent } from "../../simulator/trace.ts"
import { sampleEvents } from "./sample.ts"

const timeline = { label: "seed 1", events: sampleEvents, worldSize: 2 }

describe("timelineSection", () => {
  test("draws a lane per track, a bar per span and a tick per instant", () => {
    const html = timelineSection(timeline, undefined)
    expect([...html.matchAll(/<g data-track="([^"]*)">/g)].map((match) => match[1])).toEqual(["engine", "executor", "rank 0", "rank 1"])
    expect(html.match(/<rect class="span"/g)).toHaveLength(sampleEvents.filter((event) => event.durationMs !== undefined).length)
    expect(html.match(/<line class="instant"/g)).toHaveLength(sampleEvents.filter((event) => event.durationMs === undefined).length)
  })

  test("escapes trace names and arguments in tooltips", () => {
    const html = timelineSection(timeline, undefined)
    expect(html).not.toContain("<script>")
    expect(html).toContain("&lt;script&gt;")
  })

  test("links the trace file when given, and not otherwise", () => {
    expect(timelineSection(timeline, "traces/seed%201.json")).toContain("href=\"traces/seed%201.json\"")
    expect(timelineSection(timeline, undefined)).not.toContain("<a ")
  })

  test("says which clock its times count, and colours a rank's instants by what they mean", () => {
    expect(timelineSection(timeline, undefined)).toContain("virtual ms")
    const events: Array<TraceEvent> = [
      { track: { rank: 0 }, name: "await: Ok", atMs: 1, args: { ok: true, outcome: "Ok" } },
      { track: { rank: 1 }, name: "await: TimedOut", atMs: 2, args: { ok: false, outcome: "TimedOut" } },
      { track: { rank: 1 }, name: "SIGKILL", atMs: 3 },
      { track: { rank: 1 }, name: "exited", atMs: 4 }
    ]
    const html = timelineSection({ label: "real", events, worldSize: 2, clock: "wall" }, undefined)
    expect(html).toContain("wall-clock ms")
    expect(html).not.toContain("virtual ms")
    const strokes = [...html.matchAll(/<line class="instant"[^>]*stroke="([^"]*)"/g)].map((match) => match[1])
    expect(strokes).toEqual(["#16a34a", "#9333ea", "#dc2626", "#111827"])
  })

  test("draws at most timelineEventsMax events and says how many it left out", () => {
    const many: Array<TraceEvent> = Array.from({ length: timelineEventsMax + 10 }, (_, index) => ({ track: { rank: 0 }, name: "net.reorder", atMs: index }))
    const html = timelineSection({ label: "long", events: many, worldSize: 1 }, undefined)
    expect(html.match(/<line class="instant"/g)).toHaveLength(timelineEventsMax)
    expect(html).toContain(`Showing the first ${timelineEventsMax} of ${timelineEventsMax + 10} events`)
  })
})

describe("layoutTracks", () => {
  test("puts overlapping engine operations in separate sub-lanes and reuses a lane once it is free", () => {
    const [engine] = layoutTracks(sampleEvents, 2, 70)
    // addLora 0-40 and submit 10-70 overlap; listLoras 20-25 overlaps both.
    expect(engine.spans.map((span) => span.subLane)).toEqual([0, 1, 2])
    const sequential = layoutTracks([
      { track: "engine", name: "a", atMs: 0, durationMs: 10 },
      { track: "engine", name: "b", atMs: 50, durationMs: 10 }
    ], 1, 100)
    expect(sequential[0].subLanes).toBe(1)
  })

  test("adds a lane for a rank the events name beyond worldSize", () => {
    expect(tracksOf([{ track: { rank: 5 }, name: "exited", atMs: 0 }], 2)).toEqual(["engine", "executor", { rank: 0 }, { rank: 1 }, { rank: 5 }])
  })
})

describe("niceStep", () => {
  test("rounds up to 1, 2 or 5 times a power of ten", () => {
    expect([0.3, 1, 1.5, 3, 7, 201, 4_000].map(niceStep)).toEqual([0.5, 1, 2, 5, 10, 500, 5_000])
  })
})

/**
 * The timeline of one simulated run as an inline SVG: a lane per track, on a virtual-ms axis.
 *
 * Tracks are those of the trace (simulator/trace.ts): the engine, the executor, then each rank.
 * Spans (engine operations, a rank serving one call) are bars; instants (a fault firing, a rank
 * exiting, the executor noting an indefinite outcome) are ticks. Engine operations overlap in
 * time, so a track's spans are packed into sub-lanes; a bar's colour says what it is (engine:
 * ok or failed; rank: the Worker method), and its tooltip gives name, times and arguments. The
 * drawing is bounded (events and sub-lanes), because a long run can hold 200,000 events and the
 * page must stay light: past the bound it says how much it left out, and Perfetto shows it all.
 */
import type { Track, TraceEvent } from "../simulator/trace.ts"
import { escapeHtml } from "./escape.ts"
import type { Timeline } from "./model.ts"

/** Events drawn at most; the earliest are kept. */
export const timelineEventsMax = 4_000
/** Sub-lanes per track at most; spans past it overlap in the last sub-lane. */
const subLanesMax = 8

const widthPx = 1120
const labelPx = 92
const plotPx = widthPx - labelPx - 16
const subLanePx = 11
const trackPadPx = 5
/** Instants get their own row at the top of a track, so a dense run of faults never hides a bar. */
const instantRowPx = 9
const axisPx = 26

/** Stable colours for the Worker methods, so a method looks the same in every report. */
const methodColours: Readonly<Record<string, string>> = {
  load: "#64748b", execute: "#2563eb", sleep: "#7c3aed", wakeUp: "#a855f7", addLora: "#0d9488",
  removeLora: "#14b8a6", pinLora: "#0891b2", listLoras: "#65a30d", checkHealth: "#ca8a04", shutdown: "#475569"
}
const otherColour = "#94a3b8"

interface LaidTrack {
  readonly track: Track
  readonly subLanes: number
  readonly spans: ReadonlyArray<{ readonly event: TraceEvent; readonly subLane: number }>
  readonly instants: ReadonlyArray<TraceEvent>
}

/** The inline SVG with its legend, the trace link and, when cut, how many events were left out. */
export const timelineSection = (timeline: Timeline, traceUrl: string | undefined): string => {
  const shown = [...timeline.events].sort((a, b) => a.atMs - b.atMs).slice(0, timelineEventsMax)
  const left = timeline.events.length - shown.length
  const note = left > 0 ? `<p class="muted">Showing the first ${shown.length} of ${timeline.events.length} events; the trace file has them all.</p>` : ""
  const link = traceUrl === undefined
    ? ""
    : `<p>Chrome trace: <a href="${escapeHtml(traceUrl)}" download>${escapeHtml(decodeURIComponent(traceUrl))}</a> (open it in Perfetto, ui.perfetto.dev, or chrome://tracing).</p>`
  const unit = timeline.clock === "wall" ? "wall-clock ms" : "virtual ms"
  return `<figure class="timeline"><figcaption>${escapeHtml(timeline.label)}: ${timeline.events.length} events, ${timeline.worldSize} rank(s), ${unit}</figcaption>`
    + `${timelineSvg(shown, timeline.worldSize, unit)}${methodLegend()}</figure>${note}${link}`
}

/** Engine, executor, then ranks 0..worldSize-1 and any other rank the events name. */
export const tracksOf = (events: ReadonlyArray<TraceEvent>, worldSize: number): ReadonlyArray<Track> => {
  const ranks = new Set(Array.from({ length: worldSize }, (_, rank) => rank))
  for (const event of events) if (typeof event.track === "object") ranks.add(event.track.rank)
  return ["engine", "executor", ...[...ranks].sort((a, b) => a - b).map((rank) => ({ rank }))]
}

export const trackName = (track: Track): string => (typeof track === "string" ? track : `rank ${track.rank}`)

/** Places every span of every track in a sub-lane; pure, so tests can count lanes. */
export const layoutTracks = (events: ReadonlyArray<TraceEvent>, worldSize: number, endMs: number): ReadonlyArray<LaidTrack> =>
  tracksOf(events, worldSize).map((track) => {
    const own = events.filter((event) => trackName(event.track) === trackName(track))
    const spans = packSpans(own.filter((event) => event.durationMs !== undefined), endMs)
    const subLanes = Math.max(1, ...spans.map((span) => span.subLane + 1))
    return { track, subLanes, spans, instants: own.filter((event) => event.durationMs === undefined) }
  })

/** Greedy interval packing in pixel space: a span goes to the first sub-lane free at its start. */
const packSpans = (spans: ReadonlyArray<TraceEvent>, endMs: number) => {
  const laneEndsPx: Array<number> = []
  return spans.map((event) => {
    const startPx = xOf(event.atMs, endMs)
    const stopPx = startPx + spanWidthPx(event, endMs)
    const free = laneEndsPx.findIndex((laneEndPx) => laneEndPx < startPx)
    const subLane = free >= 0 ? free : Math.min(laneEndsPx.length, subLanesMax - 1)
    laneEndsPx[subLane] = Math.max(laneEndsPx[subLane] ?? 0, stopPx)
    return { event, subLane }
  })
}

const timelineSvg = (events: ReadonlyArray<TraceEvent>, worldSize: number, unit: string): string => {
  const endMs = Math.max(1, ...events.map((event) => event.atMs + (event.durationMs ?? 0)))
  const tracks = layoutTracks(events, worldSize, endMs)
  let y = 0
  const drawn = tracks.map((laid) => {
    const heightPx = instantRowHeight(laid) + laid.subLanes * subLanePx + 2 * trackPadPx
    const group = trackGroup(laid, y, heightPx, endMs)
    y += heightPx
    return group
  })
  const heightPx = y + axisPx
  return `<svg class="lanes" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${widthPx} ${heightPx}" width="${widthPx}" height="${heightPx}" role="img" aria-label="timeline">`
    + `${axis(endMs, y, unit)}${drawn.join("")}</svg>`
}

const trackGroup = (laid: LaidTrack, top: number, heightPx: number, endMs: number): string => {
  const name = trackName(laid.track)
  const band = `<rect class="band" x="0" y="${top}" width="${widthPx}" height="${heightPx}"/>`
    + `<text class="lane-label" x="8" y="${top + heightPx / 2 + 4}">${escapeHtml(name)}</text>`
  const barsTop = top + trackPadPx + instantRowHeight(laid)
  const bars = laid.spans.map(({ event, subLane }) => spanBar(event, barsTop + subLane * subLanePx, endMs)).join("")
  const ticks = laid.instants.map((event) => instantTick(event, top + trackPadPx - 2, endMs)).join("")
  return `<g data-track="${escapeHtml(name)}">${band}${bars}${ticks}</g>`
}

const spanBar = (event: TraceEvent, y: number, endMs: number): string => {
  const end = event.atMs + (event.durationMs ?? 0)
  const tooltip = `${event.name}: ${formatTime(event.atMs)}–${formatTime(end)} ms${describeArgs(event.args)}`
  return `<rect class="span" x="${labelPx + xOf(event.atMs, endMs)}" y="${y}" width="${spanWidthPx(event, endMs)}" height="${subLanePx - 2}" `
    + `rx="2" fill="${spanColour(event)}"><title>${escapeHtml(tooltip)}</title></rect>`
}

const instantRowHeight = (laid: LaidTrack): number => (laid.instants.length > 0 ? instantRowPx : 0)

const instantTick = (event: TraceEvent, top: number, endMs: number): string => {
  const x = labelPx + xOf(event.atMs, endMs)
  const colour = instantColour(event)
  return `<line class="instant" x1="${x}" x2="${x}" y1="${top}" y2="${top + instantRowPx}" stroke="${colour}" stroke-width="2">`
    + `<title>${escapeHtml(`${event.name} at ${formatTime(event.atMs)} ms${describeArgs(event.args)}`)}</title></line>`
}

/**
 * An exit is black; an answer that may or may not have applied (the executor's indefinite
 * outcomes, a rank's TimedOut) purple; a rank's Ok answer green; anything else (a fault, a
 * signal, a failure) red.
 */
const instantColour = (event: TraceEvent): string =>
  event.name === "exited" ? "#111827"
    : event.track === "executor" || event.args?.outcome === "TimedOut" ? "#9333ea"
    : event.args?.ok === true ? "#16a34a"
    : "#dc2626"

/** Gridlines and labels at round steps (1, 2 or 5 times a power of ten). */
const axis = (endMs: number, plotBottom: number, unit: string): string => {
  const stepMs = niceStep(endMs / 10)
  const marks: Array<string> = []
  for (let ms = 0; ms <= endMs + 1e-9 && marks.length <= 40; ms += stepMs) {
    const x = labelPx + xOf(ms, endMs)
    marks.push(`<line class="grid" x1="${x}" x2="${x}" y1="0" y2="${plotBottom}"/><text class="tick" x="${x}" y="${plotBottom + 16}">${formatTime(ms)}</text>`)
  }
  return `<g class="axis">${marks.join("")}<text class="tick unit" x="8" y="${plotBottom + 16}">${unit}</text></g>`
}

export const niceStep = (roughMs: number): number => {
  const power = 10 ** Math.floor(Math.log10(Math.max(roughMs, 1e-6)))
  const scaled = roughMs / power
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power
}

const methodLegend = (): string =>
  `<div class="legend">${Object.entries(methodColours).map(([method, colour]) => swatch(colour, method)).join("")}`
  + `${swatch("#16a34a", "engine ok / rank answered Ok")}${swatch("#dc2626", "engine failed / fault")}${swatch("#111827", "rank exited")}${swatch("#9333ea", "indefinite outcome")}</div>`

const swatch = (colour: string, text: string): string =>
  `<span class="swatch"><i style="background:${colour}"></i>${escapeHtml(text)}</span>`

const spanColour = (event: TraceEvent): string =>
  event.track === "engine" ? (event.args?.ok === true ? "#16a34a" : "#dc2626") : (methodColours[event.name] ?? otherColour)

const xOf = (ms: number, endMs: number): number => round1((ms / endMs) * plotPx)

/** Zero-length spans (a rank answering at once in virtual time) still get a visible sliver. */
const spanWidthPx = (event: TraceEvent, endMs: number): number => Math.max(2, round1(((event.durationMs ?? 0) / endMs) * plotPx))

const describeArgs = (args: TraceEvent["args"]): string =>
  args === undefined || Object.keys(args).length === 0 ? "" : ` ${JSON.stringify(args)}`

const formatTime = (ms: number): string => (Number.isInteger(ms) ? String(ms) : ms.toFixed(1))

const round1 = (value: number): number => Math.round(value * 10) / 10

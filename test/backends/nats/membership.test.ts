/**
 * Membership over a network, as pure bookkeeping: joins, silence, fencing, standby, kills.
 *
 * Goal: the rules that decide what the executor hears (membership.ts) hold for every order of
 * joins and messages, before any socket is involved. Method: the membership with explicit times.
 */
import { describe, expect, test } from "vitest"
import { makeMembership } from "../../../backends/nats/membership.ts"
import type { JoinRequest } from "../../../backends/nats/protocol.ts"

const join = (rank: number, incarnation: number, worldSize: number | null = null): JoinRequest =>
  ({ t: "join", rank, incarnation, worldSize, pid: 100 + rank, host: "h" })

describe("membership", () => {
  test("a join makes a member, confirmed once it speaks; the same incarnation joining again is idempotent", () => {
    const members = makeMembership(2, 1_000)
    expect(members.join(join(0, 7), 0).answer).toEqual({ t: "joined", standby: false })
    expect(members.isMember(0)).toBe(true)
    expect(members.confirmedCount()).toBe(0)
    expect(members.heard(0, 7, 20)).toEqual({ _tag: "Member" })
    expect(members.confirmedCount()).toBe(1)
    expect(members.join(join(0, 7), 30).answer).toEqual({ t: "joined", standby: false })
    expect(members.confirmedCount()).toBe(1)
  })

  test("a rank outside the world, or started for another world size, is refused", () => {
    const members = makeMembership(2, 1_000)
    expect(members.join(join(2, 1), 0).answer).toMatchObject({ t: "refused", exit: false })
    expect(members.join(join(1, 1, 3), 0).answer).toMatchObject({ t: "refused", reason: expect.stringMatching(/world of 3/) })
  })

  test("silence past the bound declares a member dead once; any message counts as a heartbeat", () => {
    const members = makeMembership(2, 1_000)
    members.join(join(0, 1), 0)
    members.join(join(1, 1), 0)
    expect(members.heard(1, 1, 900)).toEqual({ _tag: "Member" })
    expect(members.sweepSilent(1_000)).toEqual([])
    expect(members.sweepSilent(1_500)).toEqual([0])
    expect(members.sweepSilent(5_000)).toEqual([1])
    expect(members.slot(0)).toMatchObject({ state: "gone", exit: { reason: "heartbeat lost" } })
  })

  test("a dead incarnation is fenced until it rejoins with a new one, which waits on standby", () => {
    const members = makeMembership(1, 1_000)
    members.join(join(0, 1), 0)
    members.seal()
    members.sweepSilent(2_000)
    expect(members.heard(0, 1, 2_100)).toEqual({ _tag: "Fenced", notice: "rejoin" })
    expect(members.join(join(0, 1), 2_200).answer).toMatchObject({ t: "refused", exit: false })
    expect(members.join(join(0, 2), 2_300).answer).toEqual({ t: "joined", standby: true })
    expect(members.heard(0, 2, 2_400)).toEqual({ _tag: "Standby" })
    expect(members.isMember(0)).toBe(false)
  })

  test("a rank killed while unreachable is told to exit when it comes back, whatever its incarnation", () => {
    const members = makeMembership(1, 1_000)
    members.join(join(0, 1), 0)
    members.seal()
    members.stopRequested(0, "kill")
    members.sweepSilent(2_000)
    expect(members.heard(0, 1, 2_100)).toEqual({ _tag: "Fenced", notice: "kill" })
    expect(members.join(join(0, 2), 2_200).answer).toMatchObject({ t: "refused", exit: true })
  })

  test("a new incarnation of a member: a replacement before the seal, a death after it", () => {
    const members = makeMembership(1, 1_000)
    members.join(join(0, 1), 0)
    expect(members.join(join(0, 2), 10)).toEqual({ answer: { t: "joined", standby: false } })
    members.seal()
    const outcome = members.join(join(0, 3), 20)
    expect(outcome.answer).toEqual({ t: "joined", standby: true })
    expect(outcome.died?.reason).toBe("restarted as incarnation 3")
    expect(members.heard(0, 2, 30)).toEqual({ _tag: "Fenced", notice: "rejoin" })
  })

  test("an exit note ends the membership once; a stranger stays a stranger", () => {
    const members = makeMembership(1, 1_000)
    members.join(join(0, 1), 0)
    expect(members.exited(0, 9, { code: 0, signal: null, reason: "x" })).toBe(false)
    expect(members.exited(0, 1, { code: 0, signal: null, reason: "shutdown" })).toBe(true)
    expect(members.exited(0, 1, { code: 0, signal: null, reason: "shutdown" })).toBe(false)
    expect(members.heard(0, 42, 10)).toEqual({ _tag: "Stranger" })
  })
})

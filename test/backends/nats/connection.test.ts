/**
 * Who may connect how: the loopback rule and where credentials come from.
 *
 * Goal: no credentials is accepted only with `insecure` on a loopback URL, flags win over the
 * environment, and a URL that cannot be parsed is never taken for loopback. Method: the pure
 * resolvers, no server.
 */
import { describe, expect, test } from "vitest"
import { isLoopbackUrl, resolveNatsAuth } from "../../../backends/nats/connection.ts"

describe("the loopback rule", () => {
  test("127.0.0.0/8, localhost and [::1] are loopback, with or without a scheme or port", () => {
    for (const url of ["nats://127.0.0.1:4222", "127.0.0.1", "127.255.0.9:1", "localhost", "nats://LOCALHOST:4222", "nats://[::1]:4222", "tls://127.0.0.1:4443"]) {
      expect(isLoopbackUrl(url), url).toBe(true)
    }
  })

  test("other hosts, lookalikes, and a list with one remote server are not", () => {
    for (const url of ["nats://10.0.0.1:4222", "128.0.0.1", "127.0.0.1.evil.example", "localhost.example", "nats://[::2]:4222", "127.0.0.1,10.0.0.2", "", "nats://:4222", "127.0.0.256"]) {
      expect(isLoopbackUrl(url), url).toBe(false)
    }
  })
})

describe("resolveNatsAuth", () => {
  test("a flag wins over the environment; the environment serves when no flag is given", () => {
    expect(resolveNatsAuth({ url: "nats://10.0.0.1", token: "flag", env: { RANKWISE_NATS_TOKEN: "env" } })).toEqual({ _tag: "Token", token: "flag" })
    expect(resolveNatsAuth({ url: "nats://10.0.0.1", env: { RANKWISE_NATS_CREDS: "/etc/rank.creds" } })).toEqual({ _tag: "Creds", credsFile: "/etc/rank.creds" })
    expect(resolveNatsAuth({ url: "nats://10.0.0.1", credsFile: "/x.creds", env: { RANKWISE_NATS_TOKEN: "env" } })).toEqual({ _tag: "Creds", credsFile: "/x.creds" })
  })

  test("both a token and a credentials file is refused", () => {
    expect(resolveNatsAuth({ url: "127.0.0.1", token: "t", credsFile: "/c" })).toMatchObject({ _tag: "NatsAuthMissing" })
  })

  test("nothing at all: refused, unless insecure on loopback", () => {
    expect(resolveNatsAuth({ url: "nats://10.0.0.1" })).toMatchObject({ _tag: "NatsAuthMissing" })
    expect(resolveNatsAuth({ url: "nats://10.0.0.1", insecure: true })).toMatchObject({ _tag: "NatsAuthMissing" })
    expect(resolveNatsAuth({ url: "nats://127.0.0.1:4222", insecure: true })).toEqual({ _tag: "None" })
  })
})

/**
 * Package metadata for the CLI, read from package.json at run time.
 *
 * The file is found by walking up from this module's own location (import.meta.url), so it works
 * from the sources (cli/version.ts under tsx, Bun or Deno) and from the build (dist/cli/version.js,
 * two levels below the package root), including inside an installed node_modules/rankwise.
 */
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export interface PackageInfo {
  readonly name: string
  readonly version: string
  readonly description: string
  /** Absolute path of the package.json that was read. */
  readonly path: string
}

const PACKAGE_NAME = "rankwise"

let cached: PackageInfo | undefined

/** Reads (once) the rankwise package.json nearest above this module. */
export const packageInfo = (): PackageInfo => {
  if (cached !== undefined) return cached
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, "package.json")
    let text: string | undefined
    try {
      text = readFileSync(candidate, "utf8")
    } catch {
      text = undefined
    }
    if (text !== undefined) {
      const json = JSON.parse(text) as { name?: unknown; version?: unknown; description?: unknown }
      if (json.name === PACKAGE_NAME && typeof json.version === "string") {
        cached = {
          name: json.name,
          version: json.version,
          description: typeof json.description === "string" ? json.description : "",
          path: candidate
        }
        return cached
      }
    }
    const parent = dirname(dir)
    if (parent === dir) {
      throw new Error(`rankwise: could not find ${PACKAGE_NAME}'s package.json above ${fileURLToPath(import.meta.url)}`)
    }
    dir = parent
  }
}

/** The package version, e.g. "0.1.0". */
export const version = (): string => packageInfo().version

/**
 * A progress line for long runs: a bar redrawn in place on a terminal, and nothing on a pipe (a
 * log should not fill with carriage returns; the final summary says what happened).
 */
export interface Progress {
  readonly update: (done: number, note: string) => void
  readonly finish: () => void
}

export const makeProgress = (label: string, total: number, stream: { isTTY?: boolean; write: (text: string) => unknown }): Progress => {
  if (!stream.isTTY) return { update: () => {}, finish: () => {} }
  const width = 30
  return {
    update: (done, note) => {
      const filled = Math.round((done / total) * width)
      stream.write(`\r${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${note}   `)
    },
    finish: () => void stream.write("\n")
  }
}

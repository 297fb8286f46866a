/**
 * Escaping for the report page: every piece of text the page shows goes through here.
 *
 * Report text comes from places we do not control (a counterexample is generated data, a fault
 * message may quote a model's error), so it is escaped for the context it lands in: element text
 * and quoted attribute values share one escaper that covers both. Links and image sources must
 * stay inside the report folder: an absolute path, a `..` segment or any URL scheme
 * (`javascript:`, `http:`) is refused, so a report cannot run script or load outside assets.
 */

const entities: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/** Text safe in element content and in a double- or single-quoted attribute value. */
export const escapeHtml = (value: unknown): string => String(value).replace(/[&<>"']/g, (char) => entities[char])

/**
 * A relative URL for a file inside the report folder, or undefined when `file` would leave it
 * or names a scheme. Each path segment is percent-encoded, so spaces and `#` stay part of the name.
 */
export const folderUrl = (file: string): string | undefined => {
  if (file.length === 0 || /^[a-z][a-z0-9+.-]*:/i.test(file) || file.startsWith("/") || file.includes("\\")) return undefined
  const segments = file.split("/")
  if (segments.some((segment) => segment === ".." || segment === "")) return undefined
  return segments.map(encodeURIComponent).join("/")
}

/** Shortens text for a table cell; the whole text stays in the tooltip. */
export const truncateText = (text: string, lengthMax: number): string =>
  text.length <= lengthMax ? text : `${text.slice(0, lengthMax - 1)}…`

/**
 * @module Reads the `application/x-www-form-urlencoded` bodies of the OAuth 2.0 endpoints
 * (token, revocation, introspection): media type checked, size bounded, and every
 * parameter at most once (RFC 6749 §3.2, "MUST NOT be included more than once").
 */
import { invalidRequest } from "../errors.ts";

/** Far above any real request (a client assertion with an x5c chain is a few KB). */
export const maxFormBytes = 64 * 1024;

/**
 * Parameters that may repeat. RFC 8693 §2.1 sends several audiences as repeated
 * `audience` parameters, and Hydra (fosite GetAudiences) accepts that form too.
 */
const repeatable: ReadonlySet<string> = new Set(["audience"]);

/** Reads the body as text, refusing more than `limit` bytes without buffering them. */
async function readBounded(req: Request, limit: number): Promise<string> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    throw invalidRequest(undefined, { hint: `The request body must not be larger than ${limit} bytes.` });
  }
  if (!req.body) return "";
  // A declared length within the limit is the whole body (HTTP/1.1 frames it so): read it in
  // one go, not chunk by chunk through a stream (~6% of a token request's CPU, BENCHMARKS.md).
  if (declared !== null && /^\d+$/.test(declared) && !req.headers.has("transfer-encoding")) return req.text();
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw invalidRequest(undefined, { hint: `The request body must not be larger than ${limit} bytes.` });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The form of a POST, or invalid_request: another media type, an empty body (when
 * `allowEmpty` is false), or a parameter given twice (except `audience`).
 */
export async function readForm(req: Request, options: { allowEmpty?: boolean } = {}): Promise<URLSearchParams> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw invalidRequest(undefined, {
      hint: `The request body must be sent as application/x-www-form-urlencoded${type ? `, not ${type}` : ""}.`,
    });
  }
  const text = await readBounded(req, maxFormBytes);
  if (text.trim() === "" && !options.allowEmpty) throw invalidRequest(undefined, { hint: "The POST body can not be empty." });
  const form = new URLSearchParams(text);
  const seen = new Set<string>();
  for (const key of form.keys()) {
    if (seen.has(key) && !repeatable.has(key)) {
      throw invalidRequest(undefined, { hint: `The parameter '${safeName(key)}' must not be included more than once.` });
    }
    seen.add(key);
  }
  return form;
}

/** A parameter name fit to echo in a hint (attacker-chosen, so bounded and printable). */
function safeName(name: string): string {
  const clean = name.replace(/[^\x21-\x7e]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

/** RFC 6749 §3.1: a parameter sent without a value is treated as omitted. */
export function param(form: URLSearchParams, name: string): string | undefined {
  const value = form.get(name);
  return value === null || value === "" ? undefined : value;
}

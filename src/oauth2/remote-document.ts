/**
 * @module Fetches a document a client points us at (request_uri, sector_identifier_uri):
 * one GET with a short timeout, no redirects followed (a registered URL must not bounce us
 * elsewhere), 200 only, and a bounded body, so a slow or huge answer cannot hold a request.
 * Where it may go is lib/outbound.ts's policy (clients.http.*).
 */
import { outboundFetch, OutboundRefusedError, type OutboundPolicy } from "../lib/outbound.ts";

/** A relying party's document must come quickly: a browser is waiting on it. */
export const remoteDocumentTimeoutMs = 3_000;
/** Request objects and sector documents are small; OIDC caps a request_uri at 512 characters, not its content. */
export const remoteDocumentMaxBytes = 64 * 1024;

export class RemoteDocumentError extends Error {
  override name = "RemoteDocumentError";
  /** True when the URL was not fetched at all: its host is not one we may reach (SSRF guard). */
  constructor(
    message: string,
    readonly refused = false,
  ) {
    super(message);
  }
}

export async function fetchRemoteDocument(policy: OutboundPolicy, uri: string, accept: string): Promise<string> {
  let res: Response;
  try {
    res = await outboundFetch(policy, uri, {
      method: "GET",
      headers: { Accept: accept },
      signal: AbortSignal.timeout(remoteDocumentTimeoutMs),
    });
  } catch (err) {
    if (err instanceof OutboundRefusedError) throw new RemoteDocumentError(`${uri} was not fetched: ${err.message}`, err.kind === "forbidden");
    const reason = (err as Error).name === "TimeoutError" ? `no answer within ${remoteDocumentTimeoutMs} ms` : (err as Error).message;
    throw new RemoteDocumentError(`fetching ${uri} failed: ${reason}`);
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new RemoteDocumentError(`fetching ${uri} answered status ${res.status}, expected 200`);
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > remoteDocumentMaxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new RemoteDocumentError(`the document at ${uri} is larger than ${remoteDocumentMaxBytes} bytes`);
  }
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > remoteDocumentMaxBytes) {
        await reader.cancel().catch(() => {});
        throw new RemoteDocumentError(`the document at ${uri} is larger than ${remoteDocumentMaxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof RemoteDocumentError) throw err;
    throw new RemoteDocumentError(`reading ${uri} failed: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * @module Hostile connections on both listeners: oversized request headers are answered 431
 * and the connection closed (Bun's own limits: a 16 KiB header section, --max-http-header-size,
 * and about 200 header fields), never a 5xx or a hang; clients that stall half-way through the
 * request line, the headers or the body, or trickle a body, are disconnected within a bound
 * (serve.idle_timeout for bodies; Bun's fixed ~10 s for incomplete headers), while the server
 * keeps answering everyone else.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { figuresOf } from "./figures.ts";

const figures = figuresOf("connections");

/** serve.idle_timeout of the server under test. */
const idleSeconds = 2;
/** uWS checks timeouts on a 4 s tick, so a cut comes up to one tick late. */
const tickMs = 4_000;
/** uWS gives a request whose line and headers are incomplete this long, whatever idleTimeout says. */
const headerDeadlineMs = 10_000;

interface RawResult {
  /** The status line, or "" when the server said nothing. */
  statusLine: string;
  /** Time until the server closed the connection; undefined if it was still open at the end. */
  closedAfterMs: number | undefined;
}

/** Sends `payload` on a fresh TCP connection, optionally one byte more every 500 ms, and waits for the close (bounded by waitMs). */
function raw(port: number, payload: string, waitMs: number, trickle = false): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1");
    let out = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearInterval(dribble);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ statusLine: out.split("\r\n")[0] ?? "", closedAfterMs: closed ? Date.now() - started : undefined });
    };
    const dribble = setInterval(() => trickle && !socket.destroyed && socket.write("a"), 500);
    const giveUp = setTimeout(() => finish(false), waitMs);
    socket.on("data", (d) => (out += d.toString("latin1")));
    socket.on("error", () => {}); // a reset after 431 is a close like any other
    socket.on("close", () => finish(true));
    socket.write(payload);
  });
}

describe("hostile connections", () => {
  let server: TestServer;
  const ports: Record<string, number> = {};
  beforeAll(async () => {
    server = await startTestServer({ dsn: "memory", config: { serve: { idle_timeout: `${idleSeconds}s` } } });
    for (const l of server.listeners) ports[l.name] = l.server.port!;
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  test("oversized headers are answered 431 and closed on both listeners; the server keeps serving", async () => {
    const seen: Record<string, string> = {};
    const bigHeader = `GET /health/alive HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`;
    const manyHeaders = `GET /health/alive HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 1000 }, (_, i) => `X-H${i}: v`).join("\r\n")}\r\n\r\n`;
    const hugeCookie = `GET /oauth2/auth HTTP/1.1\r\nHost: x\r\nCookie: ${Array.from({ length: 400 }, (_, i) => `c${i}=${"v".repeat(60)}`).join("; ")}\r\n\r\n`;
    for (const name of ["public", "admin"]) {
      for (const [label, payload] of [["64 KiB header", bigHeader], ["1,000 headers", manyHeaders], ["24 KiB cookie", hugeCookie]] as const) {
        const res = await raw(ports[name]!, payload, 5_000);
        seen[`${name}: ${label}`] = `${res.statusLine.slice(9)}, closed after ${res.closedAfterMs} ms`;
        expect(res.statusLine, `${name}: ${label}`).toBe("HTTP/1.1 431 Request Header Fields Too Large");
        expect(res.closedAfterMs, `${name}: ${label}`).toBeLessThan(2_000);
      }
      // Headers a real client sends, and somewhat more, are fine.
      const normal = await raw(ports[name]!, `GET /health/alive HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(8 * 1024)}\r\nConnection: close\r\n\r\n`, 5_000);
      expect(normal.statusLine, name).toBe("HTTP/1.1 200 OK");
    }
    expect((await server.publicFetch("/health/alive")).status).toBe(200);
    expect((await server.adminFetch("/health/alive")).status).toBe(200);
    figures.add("oversized headers", seen);
  });

  test(
    "clients that stall or trickle are disconnected within the bound on both listeners, and others are served meanwhile",
    async () => {
      const cases = {
        "half a request line": { payload: "GET /health/al", trickle: false, boundMs: headerDeadlineMs + tickMs + 1_500 },
        "half the headers": { payload: "POST /oauth2/token HTTP/1.1\r\nHost: x\r\n", trickle: false, boundMs: headerDeadlineMs + tickMs + 1_500 },
        "a header trickled a byte every 500 ms": { payload: "GET /health/alive HTTP/1.1\r\nHost: x\r\nX-Slow: ", trickle: true, boundMs: headerDeadlineMs + tickMs + 1_500 },
        "a stalled body": {
          payload: "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
          trickle: false,
          boundMs: idleSeconds * 1000 + tickMs + 1_500,
        },
        "a body trickled a byte every 500 ms": {
          payload: "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n",
          trickle: true,
          boundMs: idleSeconds * 1000 + tickMs + 1_500,
        },
      };
      const slow = Object.entries(cases).flatMap(([label, c]) =>
        ["public", "admin"].map(async (name) => ({ label: `${name}: ${label}`, boundMs: c.boundMs, result: await raw(ports[name]!, c.payload, 25_000, c.trickle) })),
      );
      // Meanwhile ordinary requests keep being answered promptly (bounded loop: ~10 s).
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const res = await server.publicFetch("/health/alive");
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        expect((await server.adminFetch("/health/alive")).status).toBe(200);
        latencies.push(performance.now() - t0);
        await Bun.sleep(500);
      }
      const results = await Promise.all(slow);
      for (const { label, boundMs, result } of results) {
        expect(result.closedAfterMs, label).toBeDefined();
        expect(result.closedAfterMs!, label).toBeLessThan(boundMs);
        // Never a 5xx: either nothing at all or a 4xx (408 or 400) before the close.
        expect(result.statusLine, label).not.toMatch(/^HTTP\/1\.1 5/);
      }
      expect(Math.max(...latencies)).toBeLessThan(1_000);
      // The cut uploads reached the token handler: counted as 400s (client gone), not 5xx.
      const metrics = await (await server.adminFetch("/metrics/prometheus")).text();
      expect(metrics).not.toMatch(/gatehouse_http_requests_total\{[^}]*status="5\d\d"/);
      expect(metrics).toMatch(/gatehouse_http_requests_total\{listener="public",method="POST",route="\/oauth2\/token",status="400"\} [1-9]/);
      figures.add(`disconnected after (ms), serve.idle_timeout ${idleSeconds}s`, {
        ...Object.fromEntries(results.map((r) => [r.label, r.result.closedAfterMs])),
        "slowest health check meanwhile": Math.round(Math.max(...latencies)),
      });
    },
    40_000,
  );
});

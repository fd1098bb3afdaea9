/** @module HTTP ceiling: the least a Bun.serve endpoint can do, on 127.0.0.1:$PORT. */
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  development: false,
  fetch: () => new Response('{"status":"ok"}', { headers: { "Content-Type": "application/json" } }),
});
process.once("SIGTERM", () => {
  void server.stop(true);
  process.exit(0);
});

/** @module HTTP ceiling of the peer's runtime: a bare node:http endpoint on 127.0.0.1:$PORT. */
import { createServer } from 'node:http';

const body = '{"status":"ok"}';
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));

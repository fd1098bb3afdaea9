/**
 * @module The benchmark peer: panva's oidc-provider (pinned in bench/peer/package.json) on
 * Node.js, configured for the same workloads as Gatehouse, on 127.0.0.1 only.
 *
 * Environment (set by bench/lib/peer.ts):
 *   PEER_PORT      port on 127.0.0.1
 *   PEER_STORAGE   "postgres" (bench/peer/pg-adapter.mjs) or "memory" (oidc-provider's own adapter)
 *   PEER_DSN       PostgreSQL URL when PEER_STORAGE=postgres
 *   PEER_JWK       path of the private RSA-2048 JWK (RS256), the same size as Gatehouse's key
 *   PEER_CLIENTS   path of a JSON array of client metadata, stored through the adapter (so a
 *                  request reads its client from storage, as Gatehouse does)
 *
 * Besides oidc-provider's own routes it serves what the harness needs:
 *   GET  /health/ready                 200 once the storage answers (startup time)
 *   GET  /interaction/:uid             the interaction's details, as a login/consent app reads them
 *   POST /interaction/:uid/login       login as "alice" (interactionFinished → 303 back to /auth)
 *   POST /interaction/:uid/consent     grant what was asked (a Grant, then interactionFinished)
 * These are the interactions API a login/consent app uses; they mirror Gatehouse's admin
 * GET + accept of the login and consent requests.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider, { errors } from 'oidc-provider';
import { createPgAdapter } from './pg-adapter.mjs';

const port = Number(process.env.PEER_PORT);
const storage = process.env.PEER_STORAGE ?? 'memory';
const issuer = `http://127.0.0.1:${port}`;
const jwk = JSON.parse(readFileSync(process.env.PEER_JWK, 'utf8'));
const clients = JSON.parse(readFileSync(process.env.PEER_CLIENTS, 'utf8'));

let pg;
if (storage === 'postgres') pg = await createPgAdapter(process.env.PEER_DSN);

/** The resource server whose tokens are JWTs (W2): asked for with resource=urn:bench:jwt. */
const jwtResource = 'urn:bench:jwt';

const provider = new Provider(issuer, {
  // PostgreSQL: clients are rows, read per request as Gatehouse reads its own. Memory: the
  // default adapter is an LRU of 1,000 entries that tokens would evict clients from, so the
  // clients are static configuration instead (how oidc-provider is run without a client store).
  ...(pg ? { adapter: pg.PgAdapter } : { clients }),
  jwks: { keys: [jwk] },
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  scopes: ['openid', 'offline_access', 'read', 'write'],
  claims: { openid: ['sub'] },
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No resource: an opaque token with no audience (W1). resource=urn:bench:jwt: an RFC 9068 JWT (W2).
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (_ctx, resource) => {
        if (resource !== jwtResource) throw new errors.InvalidTarget();
        return { scope: 'read write', audience: jwtResource, accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  // Gatehouse/Hydra rotate every refresh token; oidc-provider's default only rotates late in its life.
  rotateRefreshToken: true,
  // Same lifetimes as Gatehouse's defaults (ttl.*).
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    AuthorizationCode: 600,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Interaction: 1800,
    Session: 24 * 3600,
    Grant: 30 * 24 * 3600,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // The harness counts any 5xx as an error; keep the body small and the stack out.
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

if (pg) for (const metadata of clients) await provider.Client.adapter.upsert(metadata.client_id, metadata);

const callback = provider.callback();

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return sendJson(res, 400, { error: 'interaction uid mismatch' });
  if (req.method === 'GET' && action === undefined) {
    return sendJson(res, 200, { uid: details.uid, prompt: details.prompt.name, params: details.params, accountId: details.session?.accountId });
  }
  if (req.method === 'POST' && action === 'login' && details.prompt.name === 'login') {
    return provider.interactionFinished(req, res, { login: { accountId: 'alice' } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'consent' && details.prompt.name === 'consent') {
    const { prompt: { details: missing }, params, session } = details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
  }
  return sendJson(res, 400, { error: `cannot ${req.method} ${action ?? 'details'} at prompt ${details.prompt.name}` });
}

const interactionPath = /^\/interaction\/([^/?]+)(?:\/(login|consent))?(?:\?.*)?$/;

const server = createServer((req, res) => {
  if (req.url === '/health/ready') {
    (pg ? pg.ping() : Promise.resolve()).then(
      () => sendJson(res, 200, { status: 'ok' }),
      (err) => sendJson(res, 503, { status: 'error', error: String(err?.message ?? err) }),
    );
    return;
  }
  const m = interactionPath.exec(req.url ?? '');
  if (m) {
    interaction(req, res, m[1], m[2]).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err?.message ?? err) });
      else res.end();
    });
    return;
  }
  callback(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');

const stop = () => {
  server.close();
  server.closeAllConnections();
  Promise.resolve(pg?.close()).finally(() => process.exit(0));
  setTimeout(() => process.exit(1), 5000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

// A real OpenID Connect provider (npm's certified `oidc-provider`) for pont's end-to-end tests.
//
//   node provider.mjs --redirect-uri URI [--redirect-uri URI2 ...] [--port P]
//                     [--post-logout-redirect-uri URI ...] [--other-redirect-uri URI ...]
//
// Binds 127.0.0.1 (port 0 = any free port), then prints exactly one line on stdout:
//   oidc-provider listening http://127.0.0.1:<port>
// The issuer is that URL. Client `pont` / `pont-secret` (client_secret_basic, code flow, PKCE
// S256 required, RS256 ID tokens); client `other` / `other-secret` too when
// --other-redirect-uri is given. The built-in development login form takes any login name:
// alice, bob and mallory are known accounts, any other name `x` is the account `x`. No consent
// screen. Test control, answered before the provider:
//   POST /__test/tamper  {"aud":"someone-else"} | {"exp":"past"} | {"key":"other"} | {}  -> 204
//        falsifies the ID tokens of the token endpoint from then on, until changed
//   GET  /__test/health  -> 200 ok
// Each request is logged to stderr: method, path, status.
import http from 'node:http';
import * as querystring from 'node:querystring';
import { exportJWK, generateKeyPair, calculateJwkThumbprint, importJWK, decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import Provider from 'oidc-provider';

function parseArgs(argv) {
  const out = { redirectUris: [], otherRedirectUris: [], postLogoutRedirectUris: [], port: 0 };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      i += 1;
      return v;
    };
    switch (arg) {
      case '--redirect-uri': out.redirectUris.push(value()); break;
      case '--other-redirect-uri': out.otherRedirectUris.push(value()); break;
      case '--post-logout-redirect-uri': out.postLogoutRedirectUris.push(value()); break;
      case '--port': out.port = Number.parseInt(value(), 10); break;
      default: throw new Error(`unknown argument ${arg}`);
    }
  }
  if (out.redirectUris.length === 0) throw new Error('at least one --redirect-uri is needed');
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error('bad --port');
  return out;
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`provider.mjs: ${e.message}\n`);
  process.exit(2);
}

// Accounts, keyed by the login name typed into the form.
const KNOWN = {
  alice: {
    sub: 'alice-0001', name: 'Alice Martin', given_name: 'Alice', family_name: 'Martin',
    email: 'alice.martin@univ-exemple.fr', email_verified: true,
  },
  bob: {
    sub: 'bob-0002', name: 'Bob Durand', given_name: 'Bob', family_name: 'Durand',
    email: 'bob.durand@elsewhere.example', email_verified: true,
  },
  mallory: {
    sub: 'mallory-0003', name: '<script>alert("x")</script> Mallory', given_name: 'Mallory', family_name: 'Mallory',
    email: 'mallory@univ-exemple.fr', email_verified: true,
  },
};

// oidc-provider makes the ID token's sub the account's id, and the dev login form makes the
// typed login name the session's account id: the login POST is rewritten (below) to carry
// the sub instead (alice -> alice-0001), so the account id is the sub all along.
const BY_SUB = Object.fromEntries(Object.values(KNOWN).map((a) => [a.sub, a]));

function accountClaims(id) {
  return BY_SUB[id] ?? KNOWN[id] ?? { sub: id, name: id, email: `${id}@univ-exemple.fr`, email_verified: true };
}

// Signing key, and another one never published (for {"key": "other"}), both with the same kid.
async function rsaJwk() {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return exportJWK(privateKey);
}
const signingJwk = await rsaJwk();
const kid = await calculateJwkThumbprint(signingJwk);
Object.assign(signingJwk, { kid, alg: 'RS256', use: 'sig' });
const otherJwk = { ...(await rsaJwk()), kid, alg: 'RS256', use: 'sig' };
const signingKey = await importJWK(signingJwk, 'RS256');
const otherKey = await importJWK(otherJwk, 'RS256');

let tamper = {};

async function falsify(idToken) {
  const header = decodeProtectedHeader(idToken);
  const payload = decodeJwt(idToken);
  if (tamper.aud !== undefined) payload.aud = tamper.aud;
  if (tamper.exp === 'past') {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = (payload.exp ?? now) - (payload.iat ?? now);
    payload.exp = now - 3600;
    payload.iat = payload.exp - lifetime;
  }
  const key = tamper.key === 'other' ? otherKey : signingKey;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: header.alg, kid: header.kid, ...(header.typ ? { typ: header.typ } : {}) })
    .sign(key);
}

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(args.port, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const clients = [{
  client_id: 'pont',
  client_secret: 'pont-secret',
  redirect_uris: args.redirectUris,
  post_logout_redirect_uris: args.postLogoutRedirectUris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
}];
if (args.otherRedirectUris.length > 0) {
  clients.push({
    ...clients[0],
    client_id: 'other',
    client_secret: 'other-secret',
    redirect_uris: args.otherRedirectUris,
    post_logout_redirect_uris: [],
  });
}

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingJwk] },
  // Cookie names of their own: pont runs on the same host (cookies ignore ports).
  cookies: {
    keys: ['pont-test-cookie-key-1', 'pont-test-cookie-key-2'],
    names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
  },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // The scopes' claims go into the ID token too, not only to the userinfo endpoint.
  conformIdTokenClaims: false,
  // oidc-provider only requires PKCE of public clients by default; require it of all.
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const claims = accountClaims(id);
    return { accountId: claims.sub, async claims() { return { ...claims }; } };
  },
  // Skips the consent screen: the clients are first-party (the documented recipe).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});

provider.use(async (ctx, next) => {
  // The dev login form's POST: its login name becomes the account's sub (see BY_SUB). The body
  // read here is handed on as req.body, which oidc-provider's parser takes (with a warning).
  if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path) && ctx.is('application/x-www-form-urlencoded')) {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const form = querystring.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof form.login === 'string') form.login = accountClaims(form.login).sub;
    ctx.req.body = querystring.stringify(form);
  }
  await next();
  // Post-processing of the provider's answers.
  // The token endpoint's ID token, falsified as /__test/tamper asked.
  if (ctx.method === 'POST' && ctx.path === '/token' && ctx.status === 200
      && ctx.body && typeof ctx.body === 'object' && typeof ctx.body.id_token === 'string'
      && Object.keys(tamper).length > 0) {
    ctx.body = { ...ctx.body, id_token: await falsify(ctx.body.id_token) };
  }
  // The dev pages' stylesheet imports a web font from the internet: these machines have no
  // network but loopback, and a browser test must not reach out.
  if (typeof ctx.body === 'string' && ctx.type === 'text/html') {
    ctx.body = ctx.body.replace(/@import url\(https?:[^)]*\);?/g, '');
  }
});

const providerCallback = provider.callback();

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function testControl(req, res) {
  const path = new URL(req.url, issuer).pathname;
  if (path === '/__test/health' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  if (path === '/__test/tamper' && req.method === 'POST') {
    let change;
    try {
      const text = await readBody(req);
      change = text.trim() === '' ? {} : JSON.parse(text);
      if (change === null || typeof change !== 'object' || Array.isArray(change)) throw new Error('not an object');
      const known = new Set(['aud', 'exp', 'key']);
      const unknown = Object.keys(change).filter((k) => !known.has(k));
      if (unknown.length > 0) throw new Error(`unknown fields ${unknown.join(', ')}`);
      if (change.exp !== undefined && change.exp !== 'past') throw new Error('exp must be "past"');
      if (change.key !== undefined && change.key !== 'other') throw new Error('key must be "other"');
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad tamper body: ${e.message}\n`);
      return;
    }
    tamper = change;
    process.stderr.write(`tamper: ${JSON.stringify(tamper)}\n`);
    res.writeHead(204).end();
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('unknown test path\n');
}

server.on('request', (req, res) => {
  res.on('finish', () => {
    process.stderr.write(`${req.method} ${req.url.split('?')[0]} ${res.statusCode}\n`);
  });
  if (req.url.startsWith('/__test/')) {
    testControl(req, res).catch((e) => {
      process.stderr.write(`test control failed: ${e.stack}\n`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
    return;
  }
  providerCallback(req, res);
});

provider.on('server_error', (ctx, err) => {
  process.stderr.write(`server_error on ${ctx.method} ${ctx.path}: ${err.stack}\n`);
});

process.stdout.write(`oidc-provider listening ${issuer}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}

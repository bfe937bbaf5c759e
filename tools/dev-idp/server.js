// cantdo's local OpenID Provider: oidc-provider 9.x with CIBA (poll and
// ping), for development and tests only. NOT FOR PRODUCTION.
//
// What it adds to oidc-provider:
//   - users for each approver role, roles carried in the ID token under a
//     configurable claim (like an Auth0 Action adds a namespaced claim);
//   - `interval` in the backchannel authentication response and `slow_down`
//     for polls that come sooner than the enforced minimum spacing (the
//     library does neither by itself), so a CIBA client's polling is tested
//     against a real server;
//   - login_hint as a subject, an e-mail, or Auth0's JSON iss_sub form;
//   - an "approver device" on a loopback HTTPS port that lists pending
//     requests and approves or denies one (it stands in for the phone);
//   - state (requests, grants, the device's list) kept in a file, so the
//     provider can be stopped and started again without losing requests;
//   - ping delivery to https endpoints on loopback, trusting a given CA (the
//     library's SSRF guard refuses loopback; its fetch is replaced here).
//
// Configuration (environment):
//   IDP_LISTEN            host:port for the provider (HTTPS), default 127.0.0.1:0
//   IDP_ISSUER            issuer URL, default https://<IDP_LISTEN host>:<port>
//   IDP_TLS_CERT/KEY      PEM files for HTTPS (the dev CA's `idp` certificate)
//   IDP_STATE_DIR         where signing keys and state live (created; keep it git-ignored)
//   IDP_CLIENT_ID         default cantdo-ciba-bridge
//   IDP_CLIENT_SECRET     required
//   IDP_CLIENT_AUTH       client_secret_basic (default) or client_secret_post
//   IDP_DELIVERY_MODE     the client's CIBA delivery mode: poll (default) or ping
//   IDP_PING_ENDPOINT     https URL of the client's notification endpoint (ping)
//   IDP_PING_CA           PEM CA bundle the ping endpoint's certificate chains to
//   IDP_ROLES_CLAIM       default https://cantdo.dev/roles
//   IDP_CIBA_INTERVAL     seconds returned as `interval` (0: omit it), default 5
//   IDP_CIBA_MIN_POLL     enforced minimum seconds between polls of one request
//                         (earlier polls get slow_down), default = IDP_CIBA_INTERVAL
//   IDP_CIBA_MAX_EXPIRY   cap on requested_expiry in seconds, default 600
//   IDP_CIBA_DEFAULT_EXPIRY  seconds when none is requested, default 300
//   IDP_DEVICE_LISTEN     loopback host:port of the approver device, default 127.0.0.1:0
//   IDP_GATEWAY_AUDIENCE  resource indicator (and JWT access token `aud`) of
//                         cantdo-gateway, default https://gateway.cantdo.dev
//   IDP_M2M_CLIENT_SECRET secret of the client-credentials clients below,
//                         default IDP_CLIENT_SECRET
//   IDP_ID_TOKEN_JTI      1: CIBA ID tokens carry a unique `jti` (Okta, Keycloak
//                         do; Auth0 and plain oidc-provider do not), default 0
//   IDP_PROFILE           default, or "strict": a second, independently
//                         configured provider that behaves like Okta, Keycloak
//                         or Auth0 under load do (issue #20): other subjects
//                         (00u...) and e-mails, roles in a `groups` claim
//                         released only when the `groups` scope is asked for,
//                         ES256 ID tokens, requests capped at 20 s
//                         (IDP_CIBA_MAX_EXPIRY), requests and grants in memory
//                         only (a restart forgets every pending request), and
//                         the bridge's client authenticating with
//                         private_key_jwt (IDP_CLIENT_PUBLIC_KEY).
//   IDP_CLIENT_PUBLIC_KEY PEM file of the bridge's public (or private) key,
//                         registered as its client jwks for private_key_jwt
//   IDP_ID_TOKEN_AUTH_REQ_ID  1: CIBA ID tokens carry the claim
//                         urn:openid:params:jwt:claim:auth_req_id naming the
//                         request they answer (CIBA Core requires it in push
//                         mode only), default 0
//   With both 0 the tokens of one approver approving several requests within
//   the same second are byte-identical, as with Auth0: the authority must
//   tell requests apart without them (docs/security.md).
//
// Besides the bridge's CIBA client it registers client-credentials clients
// whose access tokens are JWTs for the gateway (RFC 9068, signed RS256,
// aud = IDP_GATEWAY_AUDIENCE, roles in IDP_ROLES_CLAIM):
//   cantdo-demo-platform   an agent platform (role agent_platform)
//   cantdo-operator-cli    an operator's tool (role operator)
//   cantdo-auditor-cli     an auditor's tool (role auditor)
// e.g. curl -u cantdo-demo-platform:$SECRET -d grant_type=client_credentials
//      -d resource=https://gateway.cantdo.dev $ISSUER/token
//
// On start it prints one JSON line on stdout:
//   {"msg":"listening","issuer":"https://127.0.0.1:PORT","device":"https://127.0.0.1:PORT2"}

import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

import Provider, { errors } from 'oidc-provider';

const env = process.env;
const fail = (message) => {
  process.stderr.write(`dev-idp: ${message}\n`);
  process.exit(2);
};

function splitHostPort(text, what) {
  const i = text.lastIndexOf(':');
  if (i < 0) fail(`${what} must be host:port`);
  const host = text.slice(0, i);
  const port = Number(text.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`${what}: bad port`);
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host) && !env.IDP_ALLOW_NON_LOOPBACK) {
    fail(`${what}: the dev provider listens on loopback only`);
  }
  return { host, port };
}

const listen = splitHostPort(env.IDP_LISTEN || '127.0.0.1:0', 'IDP_LISTEN');
const deviceListen = splitHostPort(env.IDP_DEVICE_LISTEN || '127.0.0.1:0', 'IDP_DEVICE_LISTEN');
if (!env.IDP_TLS_CERT || !env.IDP_TLS_KEY) fail('IDP_TLS_CERT and IDP_TLS_KEY are required (scripts/certs makes .local/certs/idp.pem)');
if (!env.IDP_CLIENT_SECRET || env.IDP_CLIENT_SECRET.length < 16) fail('IDP_CLIENT_SECRET is required (at least 16 characters)');
const stateDir = env.IDP_STATE_DIR || fail('IDP_STATE_DIR is required');
fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });

const profile = env.IDP_PROFILE || 'default';
if (!['default', 'strict'].includes(profile)) fail('IDP_PROFILE must be default or strict');
const strict = profile === 'strict';
const clientId = env.IDP_CLIENT_ID || 'cantdo-ciba-bridge';
const clientAuth = env.IDP_CLIENT_AUTH || (strict ? 'private_key_jwt' : 'client_secret_basic');
if (!['client_secret_basic', 'client_secret_post', 'private_key_jwt'].includes(clientAuth)) fail('IDP_CLIENT_AUTH must be client_secret_basic, client_secret_post or private_key_jwt');
if (clientAuth === 'private_key_jwt' && !env.IDP_CLIENT_PUBLIC_KEY) fail('private_key_jwt needs IDP_CLIENT_PUBLIC_KEY (the bridge key\'s PEM)');
const rolesClaim = env.IDP_ROLES_CLAIM || (strict ? 'groups' : 'https://cantdo.dev/roles');
// strict: the roles claim is released only for this scope (as Okta's
// `groups` claim, or a Keycloak client scope that is not a default one).
const rolesScope = strict ? 'groups' : undefined;
const intervalSeconds = Number(env.IDP_CIBA_INTERVAL ?? 5);
const minPollSeconds = Number(env.IDP_CIBA_MIN_POLL ?? intervalSeconds);
const maxExpiry = Number(env.IDP_CIBA_MAX_EXPIRY ?? (strict ? 20 : 600));
const defaultExpiry = Number(env.IDP_CIBA_DEFAULT_EXPIRY ?? (strict ? 20 : 300));
const idTokenAlg = strict ? 'ES256' : 'RS256';
const gatewayAudience = env.IDP_GATEWAY_AUDIENCE || 'https://gateway.cantdo.dev';
const idTokenJti = env.IDP_ID_TOKEN_JTI === '1';
const idTokenAuthReqId = env.IDP_ID_TOKEN_AUTH_REQ_ID === '1';
const m2mSecret = env.IDP_M2M_CLIENT_SECRET || env.IDP_CLIENT_SECRET;

// Machine clients (client credentials) and the gateway roles their tokens carry.
const M2M_CLIENTS = {
  'cantdo-demo-platform': ['agent_platform'],
  'cantdo-operator-cli': ['operator'],
  'cantdo-auditor-cli': ['auditor'],
};

// --- users -----------------------------------------------------------------
// Subjects look like Auth0's ("auth0|..."), so the bridge's Auth0 profile is
// exercised as it is against a real tenant.
// The strict profile's subjects are Okta-style opaque ids.
const USERS = strict ? [
  { sub: '00u1opsmgr', email: 'olivia@example.org', name: 'Olivia Ops', roles: ['ops_manager'] },
  { sub: '00u2cfo', email: 'carl@example.org', name: 'Carl Finance', roles: ['cfo'] },
  { sub: '00u3dpo', email: 'dana@example.org', name: 'Dana Privacy', roles: ['dpo'] },
  { sub: '00u4norole', email: 'nora@example.org', name: 'Nora Norole', roles: [] },
] : [
  { sub: 'auth0|ops-manager', email: 'ops.manager@cantdo.dev', name: 'Olivia Ops', roles: ['ops_manager'] },
  { sub: 'auth0|cfo', email: 'cfo@cantdo.dev', name: 'Carl Finance', roles: ['cfo'] },
  { sub: 'auth0|dpo', email: 'dpo@cantdo.dev', name: 'Dana Privacy', roles: ['dpo'] },
  { sub: 'auth0|no-role', email: 'nobody@cantdo.dev', name: 'Nora Norole', roles: [] },
];
const userBySub = new Map(USERS.map((u) => [u.sub, u]));
const userByEmail = new Map(USERS.map((u) => [u.email, u]));

// --- stable signing keys (generated once into IDP_STATE_DIR) ----------------
// The default profile signs with RSA; the strict one with ES256 only, but
// keeps an RSA key too for the gateway's access tokens.
function signingKeys() {
  const file = path.join(stateDir, strict ? 'signing-keys-strict.json' : 'signing-keys.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const make = (type, alg, options) => {
    const { privateKey } = crypto.generateKeyPairSync(type, options);
    const jwk = privateKey.export({ format: 'jwk' });
    const kid = crypto.createHash('sha256').update(jwk.n || jwk.x).digest('base64url').slice(0, 16);
    return { ...jwk, kid, alg, use: 'sig' };
  };
  const keys = { keys: strict
    ? [make('ec', 'ES256', { namedCurve: 'P-256' }), make('rsa', 'RS256', { modulusLength: 2048 })]
    : [make('rsa', 'RS256', { modulusLength: 2048 })] };
  fs.writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

function cookieKeys() {
  const file = path.join(stateDir, 'cookie-keys.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const keys = [crypto.randomBytes(32).toString('base64url')];
  fs.writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

// --- state kept in a file ---------------------------------------------------
// The strict profile keeps it in memory only: a restart forgets every
// request, and a poll for one then gets invalid_grant.
const stateFile = path.join(stateDir, 'state.json');
const state = !strict && fs.existsSync(stateFile)
  ? JSON.parse(fs.readFileSync(stateFile, 'utf8'))
  : { models: {}, device: {} };
function saveState() {
  if (strict) return;
  const tmp = `${stateFile}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  fs.renameSync(tmp, stateFile);
}
const nowSeconds = () => Math.floor(Date.now() / 1000);

class FileAdapter {
  constructor(name) {
    this.name = name;
    state.models[name] ||= {};
    this.items = state.models[name];
  }

  async upsert(id, payload, expiresIn) {
    this.items[id] = { payload, expiresAt: expiresIn ? nowSeconds() + expiresIn : null };
    saveState();
  }

  async find(id) {
    const item = this.items[id];
    if (!item) return undefined;
    if (item.expiresAt && item.expiresAt < nowSeconds() - 60) {
      delete this.items[id];
      return undefined;
    }
    return item.payload;
  }

  async findByUserCode() { return undefined; }

  async findByUid(uid) {
    return Object.values(this.items).map((i) => i.payload).find((p) => p.uid === uid);
  }

  async consume(id) {
    if (this.items[id]) {
      this.items[id].payload.consumed = nowSeconds();
      saveState();
    }
  }

  async destroy(id) {
    delete this.items[id];
    saveState();
  }

  async revokeByGrantId(grantId) {
    for (const [id, item] of Object.entries(this.items)) {
      if (item.payload.grantId === grantId) delete this.items[id];
    }
    saveState();
  }
}

// The device's view of each request: what the approver sees, and the polls
// the client made (tests read them to check the client's spacing).
state.device ||= {};
const device = state.device;

// --- ping delivery ----------------------------------------------------------
// oidc-provider calls configuration.fetch with an SSRF-guarding dispatcher
// that refuses loopback. The dev stack's notification endpoint is on
// loopback, served with a certificate from the dev CA, so ping goes through
// node:https with that CA instead. Only the ping uses this fetch.
const pingCa = env.IDP_PING_CA ? fs.readFileSync(env.IDP_PING_CA) : undefined;
function pingFetch(url, options) {
  return new Promise((resolve, reject) => {
    const headers = {};
    options.headers.forEach((value, name) => { headers[name] = value; });
    const req = https.request(url, {
      method: options.method, headers, ca: pingCa, timeout: 2500,
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(new Response(null, { status: res.statusCode })));
    });
    req.on('timeout', () => req.destroy(new Error('ping timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

// --- the provider -----------------------------------------------------------
const deliveryMode = env.IDP_DELIVERY_MODE || 'poll';
if (!['poll', 'ping'].includes(deliveryMode)) fail('IDP_DELIVERY_MODE must be poll or ping');
if (deliveryMode === 'ping' && !env.IDP_PING_ENDPOINT) fail('IDP_DELIVERY_MODE=ping needs IDP_PING_ENDPOINT');
// private_key_jwt: the bridge's public key is its client's jwks.
function clientJwks() {
  if (clientAuth !== 'private_key_jwt') return {};
  const key = crypto.createPublicKey(fs.readFileSync(env.IDP_CLIENT_PUBLIC_KEY));
  return { jwks: { keys: [{ ...key.export({ format: 'jwk' }), use: 'sig' }] } };
}
const clients = [{
  client_id: clientId,
  ...(clientAuth === 'private_key_jwt' ? clientJwks() : { client_secret: env.IDP_CLIENT_SECRET }),
  token_endpoint_auth_method: clientAuth,
  grant_types: ['urn:openid:params:grant-type:ciba'],
  response_types: [],
  redirect_uris: [],
  backchannel_token_delivery_mode: deliveryMode,
  ...(deliveryMode === 'ping' ? { backchannel_client_notification_endpoint: env.IDP_PING_ENDPOINT } : {}),
  id_token_signed_response_alg: idTokenAlg,
}, ...Object.keys(M2M_CLIENTS).map((id) => ({
  client_id: id,
  client_secret: m2mSecret,
  token_endpoint_auth_method: clientAuth === 'private_key_jwt' ? 'client_secret_basic' : clientAuth,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
}))];

function parseLoginHint(issuer, hint) {
  let subject = hint;
  if (hint.startsWith('{')) {
    let parsed;
    try { parsed = JSON.parse(hint); } catch { return undefined; }
    if (parsed.format !== 'iss_sub' || typeof parsed.sub !== 'string') return undefined;
    if (parsed.iss !== issuer && parsed.iss !== `${issuer}/`) return undefined;
    subject = parsed.sub;
  }
  return (userBySub.get(subject) || userByEmail.get(subject))?.sub;
}

async function main() {
  const server = https.createServer({
    cert: fs.readFileSync(env.IDP_TLS_CERT),
    key: fs.readFileSync(env.IDP_TLS_KEY),
    minVersion: 'TLSv1.2',
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host.replace(/^\[|\]$/g, ''), resolve);
  });
  const port = server.address().port;
  const issuer = env.IDP_ISSUER || `https://${listen.host}:${port}`;

  const provider = new Provider(issuer, {
    adapter: FileAdapter,
    clients,
    jwks: signingKeys(),
    cookies: { keys: cookieKeys() },
    // Scope-derived claims such as the roles reach the ID token only with this.
    conformIdTokenClaims: false,
    claims: rolesScope ? {
      openid: ['sub'],
      [rolesScope]: [rolesClaim],
      email: ['email', 'email_verified'],
      profile: ['name'],
    } : {
      openid: ['sub', rolesClaim],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    scopes: ['openid', 'email', 'profile', ...(rolesScope ? [rolesScope] : [])],
    async findAccount(ctx, sub) {
      const user = userBySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub, email: user.email, email_verified: true, name: user.name, [rolesClaim]: user.roles,
          };
        },
      };
    },
    // Roles of a machine client travel in its access token.
    async extraTokenClaims(ctx, token) {
      const roles = token.kind === 'ClientCredentials' ? M2M_CLIENTS[token.clientId] : undefined;
      return roles ? { [rolesClaim]: roles } : undefined;
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // The gateway is the one resource server: its tokens are JWTs it can
      // verify against our JWKS, with aud = its resource indicator.
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, client) {
          return client && M2M_CLIENTS[client.clientId] ? gatewayAudience : undefined;
        },
        async useGrantedResource() { return true; },
        async getResourceServerInfo(ctx, resourceIndicator) {
          if (resourceIndicator !== gatewayAudience) throw new errors.InvalidTarget();
          return {
            scope: '',
            audience: gatewayAudience,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
      ciba: {
        enabled: true,
        deliveryModes: ['poll', 'ping'],
        async processLoginHint(ctx, loginHint) { return parseLoginHint(issuer, loginHint); },
        async processLoginHintToken() { throw new errors.InvalidRequest('login_hint_token is not supported here'); },
        async verifyUserCode() {},
        async validateRequestContext() {},
        // Auth0's rule for binding_message: 1-64 of A-Za-z0-9 +-_.,:#. The
        // authority composes nothing else (services/authority/binding_message.hpp
        // checks the same rule when the policy loads); anything else that
        // arrives here is refused, as Auth0 would.
        async validateBindingMessage(ctx, message) {
          if (message === undefined) throw new errors.InvalidBindingMessage('binding_message is required');
          if (!/^[A-Za-z0-9 +\-_.,:#]{1,64}$/.test(message)) {
            throw new errors.InvalidBindingMessage('binding_message must be 1-64 characters of A-Za-z0-9 +-_.,:#');
          }
        },
        async triggerAuthenticationDevice(ctx, request, account) {
          device[request.jti] = {
            auth_req_id: request.jti,
            subject: account.accountId,
            client_id: request.clientId,
            binding_message: request.params.binding_message,
            scope: request.scope,
            authorization_details: ctx.oidc.body?.authorization_details,
            audience: ctx.oidc.body?.audience,
            created_at: nowSeconds(),
            expires_at: request.exp ?? nowSeconds() + request.expiration,
            status: 'pending',
            interval: intervalSeconds,
            polls: [],
            slow_downs: 0,
          };
          saveState();
          process.stdout.write(`${JSON.stringify({ msg: 'backchannel request', auth_req_id: request.jti, subject: account.accountId, binding_message: request.params.binding_message })}\n`);
        },
      },
    },
    ttl: {
      BackchannelAuthenticationRequest(ctx) {
        const requested = Number(ctx?.oidc?.params?.requested_expiry);
        return Number.isSafeInteger(requested) && requested > 0 ? Math.min(requested, maxExpiry) : defaultExpiry;
      },
      AccessToken: 600,
      IdToken: 600,
      Grant: 3600,
    },
    fetch: pingFetch,
    renderError(ctx, out) {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  });

  // What a CIBA ID token may carry beyond the library's claims (see
  // IDP_ID_TOKEN_JTI and IDP_ID_TOKEN_AUTH_REQ_ID above).
  const issueIdToken = provider.IdToken.prototype.issue;
  provider.IdToken.prototype.issue = async function issueWithRequestBinding(options) {
    const params = this.ctx?.oidc?.params;
    if (options?.use === 'idtoken' && params?.grant_type === 'urn:openid:params:grant-type:ciba') {
      if (idTokenJti) this.set('jti', crypto.randomUUID());
      if (idTokenAuthReqId) this.set('urn:openid:params:jwt:claim:auth_req_id', params.auth_req_id);
    }
    return issueIdToken.call(this, options);
  };

  // interval and slow_down around the library's endpoints. The form body is
  // read here (and handed on as req.body, which the library accepts) so the
  // auth_req_id is known before the request reaches the token endpoint.
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || !['/token', '/backchannel'].includes(ctx.path)) return next();
    const raw = await new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      ctx.req.on('data', (c) => {
        size += c.length;
        if (size > 56 * 1024) { reject(new Error('too large')); ctx.req.destroy(); } else chunks.push(c);
      });
      ctx.req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      ctx.req.on('error', reject);
    });
    ctx.req.body = raw;
    const form = new URLSearchParams(raw);
    if (ctx.path === '/token' && form.get('grant_type') === 'urn:openid:params:grant-type:ciba') {
      const entry = device[form.get('auth_req_id')];
      if (entry) {
        const now = Date.now();
        const last = entry.polls.at(-1);
        entry.polls.push(now);
        if (last !== undefined && now - last < minPollSeconds * 1000 - 100) {
          entry.slow_downs += 1;
          saveState();
          ctx.status = 400;
          ctx.set('cache-control', 'no-store');
          ctx.body = { error: 'slow_down', error_description: `poll at most every ${minPollSeconds} s` };
          return undefined;
        }
        saveState();
      }
    }
    await next();
    if (ctx.path === '/backchannel' && ctx.status === 200 && ctx.body?.auth_req_id && intervalSeconds > 0) {
      ctx.body = { ...ctx.body, interval: intervalSeconds };
    }
    return undefined;
  });

  server.on('request', provider.callback());

  // --- the approver device (HTTPS, same certificate, loopback only) ----------------------
  // `as` (tests of the authority's checks only): the request is approved by
  // another known user than the one it was sent to, as if the phone were in
  // the wrong hands; the ID token then names that user.
  async function decide(id, approve, as) {
    const entry = device[id];
    if (!entry) return [404, { error: 'no such request' }];
    if (as && !userBySub.has(as)) return [400, { error: `unknown user ${as}` }];
    if (entry.status !== 'pending') return [409, { error: `already ${entry.status}` }];
    const request = await provider.BackchannelAuthenticationRequest.find(id, { ignoreExpiration: true });
    if (!request) return [410, { error: 'request gone at the provider' }];
    if (request.isExpired) return [410, { error: 'request expired' }];
    let result;
    if (approve) {
      if (as) {
        request.accountId = as;
        entry.approved_by = as;
      }
      const grant = new provider.Grant({ clientId: request.clientId, accountId: request.accountId });
      grant.addOIDCScope(request.scope);
      if (request.claims) grant.addOIDCClaims(Object.keys(request.claims.id_token || {}));
      await grant.save();
      result = grant;
    } else {
      result = new errors.AccessDenied('the approver declined the request');
    }
    entry.status = approve ? 'approved' : 'denied';
    entry.decided_at = nowSeconds();
    saveState();
    let ping = 'not applicable';
    try {
      await provider.backchannelResult(request, result, { authTime: nowSeconds(), amr: ['pop'] });
      if (deliveryMode === 'ping') ping = 'sent';
    } catch (e) {
      ping = `failed: ${e.message}`;
    }
    return [200, { ...entry, ping }];
  }

  const deviceServer = https.createServer({
    cert: fs.readFileSync(env.IDP_TLS_CERT),
    key: fs.readFileSync(env.IDP_TLS_KEY),
  }, async (req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(`${JSON.stringify(body, null, 1)}\n`);
    };
    try {
      const url = new URL(req.url, 'http://device');
      const parts = url.pathname.split('/').filter(Boolean);
      if (req.method === 'GET' && url.pathname === '/requests') {
        const all = url.searchParams.get('all') === '1';
        const list = Object.values(device).filter((e) => all || e.status === 'pending')
          .filter((e) => !url.searchParams.get('subject') || e.subject === url.searchParams.get('subject'))
          .sort((a, b) => a.created_at - b.created_at);
        return send(200, list);
      }
      if (req.method === 'GET' && parts[0] === 'requests' && parts.length === 2) {
        return device[parts[1]] ? send(200, device[parts[1]]) : send(404, { error: 'no such request' });
      }
      if (req.method === 'POST' && parts[0] === 'requests' && parts.length === 3 && ['approve', 'deny'].includes(parts[2])) {
        const [status, body] = await decide(parts[1], parts[2] === 'approve', url.searchParams.get('as'));
        return send(status, body);
      }
      if (req.method === 'GET' && url.pathname === '/users') return send(200, USERS);
      return send(404, { error: 'GET /requests[?all=1&subject=], GET /requests/ID, POST /requests/ID/approve[?as=SUBJECT]|deny, GET /users' });
    } catch (e) {
      return send(500, { error: e.message });
    }
  });
  await new Promise((resolve, reject) => {
    deviceServer.once('error', reject);
    deviceServer.listen(deviceListen.port, deviceListen.host.replace(/^\[|\]$/g, ''), resolve);
  });

  process.stdout.write(`${JSON.stringify({
    msg: 'listening', profile, issuer, gateway_audience: gatewayAudience, device: `https://${deviceListen.host}:${deviceServer.address().port}`, client_id: clientId, roles_claim: rolesClaim,
  })}\n`);
  const stop = () => { server.close(); deviceServer.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => fail(e.stack || e.message));

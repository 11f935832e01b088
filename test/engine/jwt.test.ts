import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { jwtAuthenticator } from 'parley-chat';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectChatError } from '../support/engine.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const key = new TextEncoder().encode(SECRET);
const sign = (claims: Record<string, unknown>, alg = 'HS256', signingKey: Uint8Array = key) =>
  new SignJWT(claims).setProtectedHeader({ alg }).sign(signingKey);
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('jwtAuthenticator (HS256 secret)', () => {
  const authenticate = jwtAuthenticator({ secret: SECRET, issuer: 'https://id.example', audience: 'chat' });
  const good = { sub: 'alice', name: 'Alice', exp: inAnHour(), iss: 'https://id.example', aud: 'chat' };

  it('returns the user id from sub, the display name, and when it expires (exp plus the clock tolerance, in ms)', async () => {
    await expect(authenticate(await sign(good))).resolves.toEqual({ userId: 'alice', name: 'Alice', expiresAt: (good.exp + 5) * 1000 });
  });

  it('maps the standard picture claim to avatarUrl (an http(s) URL only); avatarClaim and nameClaim pick others', async () => {
    const picture = 'https://cdn.example.com/alice.png';
    await expect(authenticate(await sign({ ...good, picture }))).resolves.toEqual({ userId: 'alice', name: 'Alice', avatarUrl: picture, expiresAt: (good.exp + 5) * 1000 });
    for (const bad of ['javascript:alert(1)', '/relative.png', 42, '']) {
      expect(await authenticate(await sign({ ...good, picture: bad }))).not.toHaveProperty('avatarUrl');
    }
    const custom = jwtAuthenticator({ secret: SECRET, nameClaim: 'nickname', avatarClaim: 'avatar' });
    await expect(custom(await sign({ sub: 'alice', exp: good.exp, nickname: 'Al', avatar: picture, name: 'ignored', picture: 'https://x.example/p.png' }))).resolves.toEqual({
      userId: 'alice',
      name: 'Al',
      avatarUrl: picture,
      expiresAt: (good.exp + 5) * 1000,
    });
  });

  it('expiresAt is the instant from which the authenticator itself refuses the token', async () => {
    const strict = jwtAuthenticator({ secret: SECRET, clockToleranceSec: 0 });
    const lenient = jwtAuthenticator({ secret: SECRET, clockToleranceSec: 120 });
    const now = Math.floor(Date.now() / 1000);
    const recentlyExpired = await sign({ sub: 'alice', exp: now - 60 });
    await expectChatError(strict(recentlyExpired), 'UNAUTHORIZED');
    // still inside the lenient tolerance: accepted, and it says so until exp + 120 s
    await expect(lenient(recentlyExpired)).resolves.toEqual({ userId: 'alice', expiresAt: (now - 60 + 120) * 1000 });
    await expect(strict(await sign({ sub: 'alice', exp: now + 60 }))).resolves.toEqual({ userId: 'alice', expiresAt: (now + 60) * 1000 });
  });

  it.each([
    ['expired', { ...good, exp: Math.floor(Date.now() / 1000) - 60 }],
    ['without exp', { sub: 'alice', iss: good.iss, aud: good.aud }],
    ['without sub', { exp: good.exp, iss: good.iss, aud: good.aud }],
    ['from another issuer', { ...good, iss: 'https://evil.example' }],
    ['for another audience', { ...good, aud: 'billing' }],
    ['with a sub that is not a valid user id', { ...good, sub: 'a b/c' }],
  ])('refuses a token %s', async (_name, claims) => {
    await expectChatError(authenticate(await sign(claims)), 'UNAUTHORIZED');
  });

  it('refuses another algorithm than the pinned one, an unsigned token, a wrong key and garbage', async () => {
    const otherKey = new TextEncoder().encode('another-secret-that-is-long-enough-for-hs256');
    await expectChatError(authenticate(await sign(good, 'HS512')), 'UNAUTHORIZED');
    await expectChatError(authenticate(new UnsecuredJWT(good).encode()), 'UNAUTHORIZED');
    await expectChatError(authenticate(await sign(good, 'HS256', otherKey)), 'UNAUTHORIZED');
    await expectChatError(authenticate('not.a.jwt'), 'UNAUTHORIZED');
    await expectChatError(authenticate(''), 'UNAUTHORIZED');
    await expectChatError(authenticate(undefined as never), 'UNAUTHORIZED');
  });

  it('never echoes the token in its error', async () => {
    const token = await sign({ ...good, exp: 1 });
    const error = await expectChatError(authenticate(token), 'UNAUTHORIZED');
    expect(JSON.stringify(error.toJSON())).not.toContain(token);
    expect(error.message).toBe('Token expired');
  });

  it('refuses a short secret at construction', () => {
    expect(() => jwtAuthenticator({ secret: 'short' })).toThrow(/32 bytes/);
  });
});

describe('jwtAuthenticator (JWKS URL)', () => {
  let server: Server;
  let jwksUrl: string;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('verifies RS256 tokens against the key set', async () => {
    const authenticate = jwtAuthenticator({ jwksUrl });
    const token = await new SignJWT({ sub: 'bob', exp: inAnHour() }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey);
    await expect(authenticate(token)).resolves.toMatchObject({ userId: 'bob', expiresAt: expect.any(Number) });
    // an HS256 token cannot sneak in against a JWKS authenticator
    await expectChatError(authenticate(await sign({ sub: 'bob', exp: inAnHour() })), 'UNAUTHORIZED');
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ChatError, jwtAuthenticator } from 'parley-chat';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectChatError } from '../support/engine.js';

// What an application sees from jwtAuthenticator beyond the happy path: the set-up mistakes it
// names, the limits on a token, what the display name becomes, and how a key-set outage differs
// from a bad token (the client retries the one and signs in again after the other).

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const key = new TextEncoder().encode(SECRET);
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const sign = (claims: Record<string, unknown>, signingKey: Uint8Array = key) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(signingKey);

function constructionError(build: () => unknown): ChatError {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('VALIDATION');
    return error as ChatError;
  }
  throw new Error('expected jwtAuthenticator to refuse its options');
}

describe('jwtAuthenticator set-up mistakes', () => {
  it('names an unset or empty secret, the usual `process.env.JWT_SECRET!` mistake', () => {
    expect(constructionError(() => jwtAuthenticator({ secret: undefined })).message).toBe(
      'jwtAuthenticator: `secret` is undefined — is JWT_SECRET set? (at least 32 characters; `openssl rand -hex 32` makes one)',
    );
    expect(constructionError(() => jwtAuthenticator({ secret: '' })).message).toMatch(/^jwtAuthenticator: `secret` is empty — is JWT_SECRET set\?/);
  });

  it('wants exactly one of a secret and a key set', () => {
    expect(constructionError(() => jwtAuthenticator({})).message).toBe('jwtAuthenticator needs exactly one of `secret` or `jwksUrl`');
    expect(constructionError(() => jwtAuthenticator({ secret: SECRET, jwksUrl: 'https://id.example/jwks.json' })).message).toBe(
      'jwtAuthenticator needs exactly one of `secret` or `jwksUrl`',
    );
  });

  it('takes a secret as bytes, from 32 bytes up', async () => {
    expect(constructionError(() => jwtAuthenticator({ secret: new Uint8Array(31).fill(7) })).message).toMatch(/at least 32 bytes/);
    expect(constructionError(() => jwtAuthenticator({ secret: 'x'.repeat(31) })).message).toMatch(/at least 32 bytes/);
    const bytes = new Uint8Array(32).fill(7);
    const authenticate = jwtAuthenticator({ secret: bytes });
    await expect(authenticate(await sign({ sub: 'alice', exp: inAnHour() }, bytes))).resolves.toMatchObject({ userId: 'alice' });
    expect(() => jwtAuthenticator({ secret: 'x'.repeat(32) })).not.toThrow();
  });
});

describe('jwtAuthenticator tokens', () => {
  it('accepts a token of up to 8192 characters and refuses a longer one before verifying it', async () => {
    const authenticate = jwtAuthenticator({ secret: SECRET });
    const exp = inAnHour();
    let token = '';
    // grow a padding claim until the token is exactly 8192 characters long
    for (let pad = 5900; token.length < 8192; pad++) token = await sign({ sub: 'alice', exp, pad: 'p'.repeat(pad) });
    expect(token.length).toBe(8192);
    await expect(authenticate(token)).resolves.toEqual({ userId: 'alice', expiresAt: (exp + 5) * 1000 });
    const tooLong = await expectChatError(authenticate(`${token}x`), 'UNAUTHORIZED');
    expect(tooLong.message).toBe('Missing or malformed token');
  });

  it('calls a missing token missing, and anything else that fails verification invalid, with jose’s reason', async () => {
    const authenticate = jwtAuthenticator({ secret: SECRET });
    expect((await expectChatError(authenticate(''), 'UNAUTHORIZED')).message).toBe('Missing or malformed token');
    expect((await expectChatError(authenticate(undefined as never), 'UNAUTHORIZED')).message).toBe('Missing or malformed token');

    const otherKey = new TextEncoder().encode('another-secret-that-is-long-enough-for-hs256');
    const forged = await expectChatError(authenticate(await sign({ sub: 'alice', exp: inAnHour() }, otherKey)), 'UNAUTHORIZED');
    expect(forged.message).toBe('Invalid token');
    expect(forged.details).toEqual({ reason: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });

    const expired = await expectChatError(authenticate(await sign({ sub: 'alice', exp: 1 })), 'UNAUTHORIZED');
    expect(expired.message).toBe('Token expired');
    expect(expired.details).toEqual({ reason: 'ERR_JWT_EXPIRED' });

    const badSubject = await expectChatError(authenticate(await sign({ sub: 'a b/c', exp: inAnHour() })), 'UNAUTHORIZED');
    expect(badSubject.message).toBe('Token subject is not a valid user id');
  });

  it('takes the display name from the configured claim, at most 100 characters, and none from an empty one', async () => {
    const exp = inAnHour();
    const byNickname = jwtAuthenticator({ secret: SECRET, nameClaim: 'nickname' });
    await expect(byNickname(await sign({ sub: 'alice', exp, name: 'Alice Liddell', nickname: 'Al' }))).resolves.toEqual({
      userId: 'alice',
      name: 'Al',
      expiresAt: (exp + 5) * 1000,
    });
    const authenticate = jwtAuthenticator({ secret: SECRET });
    const long = await authenticate(await sign({ sub: 'alice', exp, name: 'n'.repeat(150) }));
    expect(long.name).toBe('n'.repeat(100));
    await expect(authenticate(await sign({ sub: 'alice', exp, name: '' }))).resolves.toEqual({ userId: 'alice', expiresAt: (exp + 5) * 1000 });
    await expect(authenticate(await sign({ sub: 'alice', exp, name: 42 }))).resolves.toEqual({ userId: 'alice', expiresAt: (exp + 5) * 1000 });
  });

  it('accepts any of several issuers and audiences', async () => {
    const authenticate = jwtAuthenticator({ secret: SECRET, issuer: ['https://a.example', 'https://b.example'], audience: ['chat', 'admin'] });
    await expect(authenticate(await sign({ sub: 'alice', exp: inAnHour(), iss: 'https://b.example', aud: 'admin' }))).resolves.toMatchObject({ userId: 'alice' });
    await expectChatError(authenticate(await sign({ sub: 'alice', exp: inAnHour(), iss: 'https://c.example', aud: 'chat' })), 'UNAUTHORIZED');
    await expectChatError(authenticate(await sign({ sub: 'alice', exp: inAnHour(), iss: 'https://a.example' })), 'UNAUTHORIZED');
  });
});

describe('jwtAuthenticator key-set outages', () => {
  let server: Server;
  let base: string;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let jwk: Record<string, unknown>;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      if (req.url === '/not-a-key-set') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ hello: 'world' }));
      } else if (req.url === '/broken') {
        res.statusCode = 500;
        res.end('upstream trouble at /internal/path');
      } else {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [jwk] }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const rsToken = (kid = 'k1') => new SignJWT({ sub: 'bob', exp: inAnHour() }).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey);

  async function expectUnavailable(jwksUrl: string) {
    const error = await expectChatError(jwtAuthenticator({ jwksUrl })(await rsToken()), 'UNAVAILABLE');
    expect(error.message).toBe('Sign-in cannot be checked right now; try again shortly');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    // nothing about where the key set lives reaches the client
    expect(JSON.stringify(error.toJSON())).not.toMatch(/127\.0\.0\.1|internal|jwks/i);
  }

  it('is unavailable, not unauthorized, when the key set cannot be fetched or is no key set', async () => {
    await expectUnavailable(`${base}/not-a-key-set`);
    await expectUnavailable(`${base}/broken`);
    // nothing listens on port 1
    await expectUnavailable('http://127.0.0.1:1/jwks.json');
  });

  it('calls a token its secret cannot check invalid, not an outage, when the pinned algorithm needs a key pair', async () => {
    // a set-up mistake (RS256 pinned beside a secret): jose refuses the key without an error code
    const authenticate = jwtAuthenticator({ secret: SECRET, algorithms: ['RS256'] });
    const error = await expectChatError(authenticate(await rsToken()), 'UNAUTHORIZED');
    expect(error.message).toBe('Invalid token');
    expect(error.details).toEqual({ reason: 'ERR_JWT_INVALID' });
  });

  it('still refuses a token the key set does not know as unauthorized', async () => {
    const authenticate = jwtAuthenticator({ jwksUrl: `${base}/jwks.json` });
    await expect(authenticate(await rsToken())).resolves.toMatchObject({ userId: 'bob' });
    const unknownKey = await expectChatError(authenticate(await rsToken('k2')), 'UNAUTHORIZED');
    expect(unknownKey.details).toEqual({ reason: 'ERR_JWKS_NO_MATCHING_KEY' });
  });
});

/**
 * Demo mode's sign-in: pick a name, get a token. It exists only when JWT_SECRET is unset, so that a
 * newcomer can open two browser windows and chat as two people. It is NOT authentication — anybody
 * can claim any name. With JWT_SECRET set, the route does not exist and your app issues the tokens.
 */
import { randomBytes } from 'node:crypto';
import express, { type Router } from 'express';
import { SignJWT } from 'jose';

/** Tokens issued by the demo route live this long (a jose duration); the page renews them before. */
export const DEMO_TOKEN_TTL = '12h';

/** A random secret for this process only: restarting the app signs everybody out. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * A user id from a display name: lowercase, with runs of anything outside the allowed id
 * characters (`[A-Za-z0-9_.:@|-]`) turned into one `-`. "Ada Lovelace" → "ada-lovelace". The same
 * name always gives the same id, which is what lets two windows sign in as the same person.
 */
export function userIdFromName(name: string): string {
  const id = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // é → e
    .toLowerCase()
    .replace(/[^a-z0-9_.@-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return id.length > 0 ? id : `user-${randomBytes(4).toString('hex')}`;
}

/** Signs the same kind of token your app would issue: HS256, `sub` = user id, `name`, `exp`. */
export function signDemoToken(secret: string, userId: string, name: string, ttl = DEMO_TOKEN_TTL): Promise<string> {
  return new SignJWT({ name })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(ttl)
    .sign(new TextEncoder().encode(secret));
}

/** `POST /demo/sign-in { name }` → `{ token, userId, name }`. */
export function demoSignInRouter(secret: string, ttl = DEMO_TOKEN_TTL): Router {
  const router = express.Router();
  router.post('/sign-in', express.json({ limit: '2kb' }), async (req, res) => {
    const raw: unknown = (req.body as { name?: unknown } | undefined)?.name;
    const name = typeof raw === 'string' ? raw.replace(/[\u0000-\u001f\u007f]/g, '').trim() : '';
    if (name.length === 0 || name.length > 60) {
      res.status(400).json({ error: { code: 'VALIDATION', message: 'Pick a name of 1 to 60 characters' } });
      return;
    }
    const userId = userIdFromName(name);
    res.json({ token: await signDemoToken(secret, userId, name, ttl), userId, name });
  });
  return router;
}

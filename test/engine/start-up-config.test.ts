import { ChatError, configFromEnv, jwtAuthenticator } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../examples/server/config.js';

/** What a newcomer's first start-up reads from the environment, and what it says when something is missing. */
describe('the listen port', () => {
  it('comes from PORT, which hosting platforms set, or from WEBSOCKET_PORT; PORT wins when both are set', () => {
    expect(configFromEnv({}).port).toBe(3000);
    expect(configFromEnv({ PORT: '8080' }).port).toBe(8080);
    expect(configFromEnv({ WEBSOCKET_PORT: '4000' }).port).toBe(4000);
    expect(configFromEnv({ PORT: '8080', WEBSOCKET_PORT: '4000' }).port).toBe(8080);
  });

  it('a bad PORT stops start-up with a message naming PORT', () => {
    expect(() => configFromEnv({ PORT: 'eighty' })).toThrow(/Invalid environment variable PORT/);
  });

  it('the reference app says where its port came from', () => {
    const dir = { PARLEY_DATA_DIR: '/tmp/unused' };
    expect(loadConfig({ ...dir })).toMatchObject({ port: 3000, portFrom: 'default' });
    expect(loadConfig({ ...dir, PORT: '8080', WEBSOCKET_PORT: '4000' })).toMatchObject({ port: 8080, portFrom: 'PORT' });
    expect(loadConfig({ ...dir, WEBSOCKET_PORT: '4000' })).toMatchObject({ port: 4000, portFrom: 'WEBSOCKET_PORT' });
  });
});

describe('a missing JWT secret', () => {
  it('`secret: process.env.JWT_SECRET!` with the variable unset names JWT_SECRET', () => {
    const env: Record<string, string | undefined> = {};
    expect(() => jwtAuthenticator({ secret: env.JWT_SECRET! })).toThrow('jwtAuthenticator: `secret` is undefined — is JWT_SECRET set?');
    expect(() => jwtAuthenticator({ secret: env.JWT_SECRET! })).toThrow(ChatError);
  });

  it('an empty one (JWT_SECRET= in an .env file) names it too', () => {
    expect(() => jwtAuthenticator({ secret: '' })).toThrow('jwtAuthenticator: `secret` is empty — is JWT_SECRET set?');
  });

  it('neither option, or both, still asks for exactly one', () => {
    expect(() => jwtAuthenticator({})).toThrow('needs exactly one of `secret` or `jwksUrl`');
    expect(() => jwtAuthenticator({ secret: 's'.repeat(32), jwksUrl: 'https://id.example/jwks.json' })).toThrow('needs exactly one of `secret` or `jwksUrl`');
  });

  it('a short JWT_SECRET stops configFromEnv with a message naming it and how to make one', () => {
    expect(() => configFromEnv({ JWT_SECRET: 'short' })).toThrow(/JWT_SECRET: must be at least 32 characters \(e\.g\. `openssl rand -hex 32`\)/);
  });
});

import { ChatError, configFromEnv } from 'parley-chat';
import { describe, expect, it } from 'vitest';

describe('configFromEnv: what a deployment’s environment gives', () => {
  it('an empty variable counts as unset, as in most .env loaders', () => {
    const config = configFromEnv({ PORT: '', STREAM_DELAY: '', CORS_ORIGIN: '', UNRELATED: undefined });
    expect(config).toMatchObject({ port: 3000, streamDelayMs: 50, corsOrigin: '*' });
  });

  it('a list of origins is split on commas, each trimmed, empty ones dropped', () => {
    expect(configFromEnv({ CORS_ORIGIN: ' https://a.example , https://b.example ,' }).corsOrigin).toEqual(['https://a.example', 'https://b.example']);
  });

  it('without JWT_SECRET there is no jwtSecret at all (nothing to spread over a configured one)', () => {
    expect(Object.keys(configFromEnv({}))).not.toContain('jwtSecret');
  });

  it('a bad variable is VALIDATION naming it, with every problem in details', () => {
    let error: unknown;
    try {
      configFromEnv({ PORT: 'eighty', STREAM_DELAY: '-1' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChatError);
    expect(error).toMatchObject({
      code: 'VALIDATION',
      message: 'Invalid environment variable PORT: must be a whole number',
      details: { variable: 'PORT', issues: [{ variable: 'PORT', message: 'must be a whole number' }, { variable: 'STREAM_DELAY', message: 'must be a whole number' }] },
    });
  });
});

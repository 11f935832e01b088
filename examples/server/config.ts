/**
 * The reference app's configuration, read from the environment once at start-up. Everything has a
 * default, so `npm start` works with no variable set; a bad value stops start-up with a message
 * naming the variable (Parley's own variables are validated by its `configFromEnv()`).
 */
import { resolve } from 'node:path';
import { configFromEnv, type EnvConfig } from 'parley-chat';

/** Which model answers "Ask the assistant". */
export type LlmConfig =
  | { kind: 'scripted' }
  | { kind: 'openai'; baseURL: string; apiKey?: string; model: string }
  | { kind: 'anthropic'; apiKey: string; model: string; baseURL?: string };

/** Where chat data lives. */
export type StorageConfig = { kind: 'sqlite'; filename: string } | { kind: 'postgres'; connectionString: string };

export interface AppConfig extends EnvConfig {
  /** Where `port` came from, for the start-up banner: "PORT", "WEBSOCKET_PORT" or "default". */
  portFrom: 'PORT' | 'WEBSOCKET_PORT' | 'default';
  /** Interface to listen on (default: all). */
  host?: string;
  /** Directory of the embedded SQLite file (PARLEY_DATA_DIR, default ./data). */
  dataDir: string;
  storage: StorageConfig;
  llm: LlmConfig;
}

/**
 * Reads `process.env` (or the given record):
 * - through parley's `configFromEnv()`: PORT or WEBSOCKET_PORT (the listen port; PORT,
 *   which hosting platforms set, wins), CORS_ORIGIN, WS_THROTTLE_TTL, WS_THROTTLE_LIMIT, STREAM_DELAY,
 *   MAX_CONCURRENT_STREAMS, and JWT_SECRET;
 * - DATABASE_URL=postgres://… switches storage to PostgreSQL; otherwise SQLite in PARLEY_DATA_DIR;
 * - OPENAI_BASE_URL (+ OPENAI_API_KEY, OPENAI_MODEL) switches the assistant to an
 *   OpenAI-compatible server; ANTHROPIC_API_KEY (+ ANTHROPIC_MODEL, ANTHROPIC_BASE_URL) to
 *   Anthropic's Messages API; otherwise the scripted demo provider answers (it is not a model).
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const base = configFromEnv(env);
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };

  const dataDir = resolve(value('PARLEY_DATA_DIR') ?? 'data');
  const databaseUrl = value('DATABASE_URL');
  let storage: StorageConfig;
  if (databaseUrl === undefined) {
    storage = { kind: 'sqlite', filename: resolve(dataDir, 'parley.db') };
  } else if (/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    storage = { kind: 'postgres', connectionString: databaseUrl };
  } else {
    throw new Error('Invalid environment variable DATABASE_URL: must start with postgres:// or postgresql:// (unset it to use SQLite)');
  }

  const baseURL = value('OPENAI_BASE_URL');
  let llm: LlmConfig = { kind: 'scripted' };
  if (baseURL !== undefined) {
    try {
      new URL(baseURL);
    } catch {
      throw new Error('Invalid environment variable OPENAI_BASE_URL: must be an absolute URL such as http://localhost:11434/v1');
    }
    const apiKey = value('OPENAI_API_KEY');
    llm = { kind: 'openai', baseURL, model: value('OPENAI_MODEL') ?? 'gpt-4o-mini', ...(apiKey !== undefined && { apiKey }) };
  } else if (value('OPENAI_API_KEY') !== undefined || value('OPENAI_MODEL') !== undefined) {
    throw new Error('OPENAI_API_KEY / OPENAI_MODEL are set but OPENAI_BASE_URL is not (e.g. https://api.openai.com/v1)');
  }
  const anthropicKey = value('ANTHROPIC_API_KEY');
  if (anthropicKey !== undefined) {
    if (llm.kind !== 'scripted') throw new Error('Both OPENAI_BASE_URL and ANTHROPIC_API_KEY are set: unset one of them');
    const anthropicBase = value('ANTHROPIC_BASE_URL');
    llm = { kind: 'anthropic', apiKey: anthropicKey, model: value('ANTHROPIC_MODEL') ?? 'claude-sonnet-4-5', ...(anthropicBase !== undefined && { baseURL: anthropicBase }) };
  }

  const host = value('HOST');
  const portFrom = value('PORT') !== undefined ? 'PORT' : value('WEBSOCKET_PORT') !== undefined ? 'WEBSOCKET_PORT' : 'default';
  return { ...base, portFrom, dataDir, storage, llm, ...(host !== undefined && { host }) };
}

/**
 * What mutation testing covers (docs/testing.md): each module in scope with the test files that
 * exercise it. Stryker runs one module at a time against its own test files only, so a full run
 * stays within about an hour and a survivor says "these tests do not notice", not "nothing does".
 */
export interface MutationModule {
  /** Source file mutated, relative to the repository root. */
  file: string;
  /** Test files run against each of its mutants. */
  tests: readonly string[];
}

export const MUTATION_SCOPE: readonly MutationModule[] = [
  { file: 'src/moderation/normalize.ts', tests: ['test/moderation/normalize.test.ts'] },
  { file: 'src/moderation/profanity-filter.ts', tests: ['test/moderation/profanity-filter.test.ts'] },
  { file: 'src/moderation/pipeline.ts', tests: ['test/engine/moderation.test.ts', 'test/moderation/pipeline.test.ts', 'test/streaming/output-filter.test.ts'] },
  { file: 'src/rate-limits.ts', tests: ['test/engine/rate-limits.test.ts', 'test/engine/rate-limit-defaults.test.ts', 'test/express/retry-after.test.ts'] },
  { file: 'src/write-batcher.ts', tests: ['test/engine/write-batcher.test.ts', 'test/engine/write-batcher-behaviour.test.ts'] },
  { file: 'src/authorization.ts', tests: ['test/engine/authorization.test.ts', 'test/engine/open-policy.test.ts', 'test/engine/policy-owns-access.test.ts', 'test/engine/policy-storage-checks.test.ts'] },
  { file: 'src/streams/output-filter.ts', tests: ['test/streaming/output-filter.test.ts', 'test/streaming/output-filter-evasions.test.ts'] },
  { file: 'src/send-order.ts', tests: ['test/engine/send-order.test.ts'] },
  { file: 'src/validation/text.ts', tests: ['test/engine/text-rules.test.ts', 'test/engine/validation.test.ts'] },
  { file: 'src/validation/emoji.ts', tests: ['test/engine/emoji.test.ts'] },
  { file: 'src/validation/json-metadata.ts', tests: ['test/engine/validation.test.ts', 'test/engine/unstorable-text.test.ts', 'test/express/openapi.test.ts', 'test/engine/metadata-rules.test.ts'] },
  { file: 'src/validation/http-url.ts', tests: ['test/engine/validation.test.ts'] },
  { file: 'src/auth/jwt.ts', tests: ['test/engine/jwt.test.ts', 'test/engine/jwt-behaviour.test.ts'] },
  { file: 'src/config.ts', tests: ['test/engine/config.test.ts', 'test/engine/start-up-config.test.ts', 'test/engine/config-env.test.ts'] },
  { file: 'src/streams/model-context.ts', tests: ['test/streaming/model-messages.test.ts', 'test/streaming/model-context.test.ts'] },
  { file: 'src/streams/stream-slots.ts', tests: ['test/streaming/engine-streams.test.ts', 'test/streaming/stream-coordinator.test.ts', 'test/streaming/stream-slots.test.ts'] },
  { file: 'adapters/express/errors.ts', tests: ['test/express/errors.test.ts', 'test/express/error-handler.test.ts', 'test/express/retry-after.test.ts', 'test/express/path-decoding.test.ts'] },
  { file: 'adapters/express/routes.ts', tests: ['test/express/routes.memory.test.ts', 'test/express/method-not-allowed.test.ts', 'test/express/users.test.ts'] },
  { file: 'adapters/socket.io/typing.ts', tests: ['test/socket.io/presence-typing.test.ts', 'test/socket.io/typing.test.ts'] },
  { file: 'adapters/socket.io/presence.ts', tests: ['test/socket.io/presence-typing.test.ts', 'test/socket.io/presence.test.ts', 'test/socket.io/events.test.ts', 'test/socket.io/presence-races.test.ts', 'test/socket.io/cluster.test.ts'] },
  { file: 'adapters/socket.io/sessions.ts', tests: ['test/socket.io/replay.test.ts', 'test/socket.io/rejoin-after-drop.test.ts', 'test/socket.io/events.test.ts', 'test/socket.io/presence.test.ts', 'test/socket.io/presence-typing.test.ts', 'test/socket.io/session-cursors.test.ts', 'test/socket.io/presence-races.test.ts', 'test/socket.io/streams.test.ts'] },
];

/** Below this score (killed / valid mutants, %) a module fails `npm run test:mutation`. */
export const MUTATION_FLOOR = 75;
/** What every module in scope aims for. */
export const MUTATION_TARGET = 85;

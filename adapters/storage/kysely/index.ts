/** The shared SQL implementation behind `parley-chat/postgres` and `parley-chat/sqlite`. */
export { KyselyStorage, type KyselyStorageConfig } from './kysely-storage.js';
export { SEARCH_TERM, type DbErrorInfo, type DbErrorKind, type DialectTypes, type SqlDialect } from './dialect.js';
export { chatMigrations, createMigrator } from './migrations.js';
export { classify, toStorageError } from './errors.js';
export * from './schema.js';

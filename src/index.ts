export * from './model.js';
export * from './errors.js';
export type * from './ports/storage.js';
export { newId } from './ids.js';

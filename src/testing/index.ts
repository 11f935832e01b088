export { describeStorageAdapter } from './describe-storage-adapter.js';
export type { DescribeStorageAdapterOptions } from './describe-storage-adapter.js';

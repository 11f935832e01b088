import { MemoryStorage } from 'parley';
import { describeStorageAdapter } from 'parley/testing';

describeStorageAdapter({ name: 'memory', create: () => new MemoryStorage() });

import { MemoryStorage } from 'parley-chat';
import { describeStorageAdapter } from 'parley-chat/testing';

describeStorageAdapter({ name: 'memory', create: () => new MemoryStorage() });

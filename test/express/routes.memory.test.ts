import { MemoryStorage } from 'parley-chat';
import { describeRestRoutes } from './route-suite.js';

describeRestRoutes('MemoryStorage', () => new MemoryStorage());

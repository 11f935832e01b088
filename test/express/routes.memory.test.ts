import { MemoryStorage } from 'parley';
import { describeRestRoutes } from './route-suite.js';

describeRestRoutes('MemoryStorage', () => new MemoryStorage());

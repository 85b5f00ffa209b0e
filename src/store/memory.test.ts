import { runStoreConformance } from './conformance.ts';
import { MemoryStore } from './memory.ts';

runStoreConformance('memory', async () => new MemoryStore());

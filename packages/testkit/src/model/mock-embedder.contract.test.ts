import { MockEmbedder } from '../mock-embedder.ts';
import { describeEmbedderContract } from './index.ts';

describeEmbedderContract('MockEmbedder', {
  create: () => {
    const embedder = new MockEmbedder();
    return { embedder, requests: () => embedder.calls };
  },
  hang: () => ({ embedder: new MockEmbedder({ latencyMs: 60_000 }) }),
  deterministic: true,
  similarity: true,
});

describeEmbedderContract('MockEmbedder (8 dimensions)', {
  create: () => ({ embedder: new MockEmbedder({ dimensions: 8 }) }),
  hang: () => ({ embedder: new MockEmbedder({ dimensions: 8, latencyMs: 60_000 }) }),
  deterministic: true,
});

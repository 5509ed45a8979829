import { z } from 'zod';

/**
 * What `MemorySummarizer` produces (SPEC §6.1): a concise, factual summary and the topics
 * discussed. Also the JSON schema the model is asked to answer with.
 */
export const SessionSummarySchema = z.object({
  summary: z.string(),
  topics: z.array(z.string()).optional(),
});

/** A session summary: `{ summary, topics? }`. */
export type SessionSummary = z.infer<typeof SessionSummarySchema>;

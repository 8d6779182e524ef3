import { z } from 'zod';
import type { Job } from '../../core/db/generated/client.ts';

export const jobStatuses = ['queued', 'running', 'succeeded', 'failed'] as const;

export const jobSchema = z
  .object({
    id: z.string(),
    kind: z.string().describe('e.g. `publish`'),
    status: z
      .enum(jobStatuses)
      .describe('queued (waiting, also between retries) → running → succeeded or failed'),
    portfolioId: z.string().nullable(),
    attempts: z.number().int().describe('attempts started so far'),
    txHash: z.string().nullable().describe('the latest transaction the job sent, once sent'),
    result: z.record(z.string(), z.unknown()).nullable().describe('what the job produced, once succeeded'),
    error: z
      .string()
      .nullable()
      .describe('why the job failed (or why the last attempt failed, when retrying)'),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Job' });

export type JobBody = z.infer<typeof jobSchema>;

export const publishAcceptedSchema = z.object({
  job: jobSchema,
  links: z.object({
    job: z.string().describe('poll this URL until the job has succeeded or failed'),
    portfolio: z.string(),
  }),
});

/** The latest transaction hash a job recorded in `payload.txs` (the relay transaction hash, written by core/catalog/publish.ts). */
function latestTxHash(payload: unknown): string | null {
  const txs = (payload as { txs?: unknown } | null)?.txs;
  if (!Array.isArray(txs) || txs.length === 0) return null;
  const hash = (txs[txs.length - 1] as { hash?: unknown }).hash;
  return typeof hash === 'string' ? hash : null;
}

export function toJobBody(job: Job): JobBody {
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    portfolioId: job.portfolioId,
    attempts: job.attempts,
    txHash: latestTxHash(job.payload),
    result:
      job.result !== null && typeof job.result === 'object' && !Array.isArray(job.result)
        ? (job.result as Record<string, unknown>)
        : null,
    error: job.error,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
  };
}

import { describe, expect, it } from 'vitest';
import { INDEXER_STALE_AFTER_MS, indexerHealth } from '../../core/chain-index/status.ts';

const now = new Date('2026-01-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms);
const running = { running: true, lastError: null, reportedAt: now.toISOString() };

describe('indexerHealth()', () => {
  it('is ok with the lag between the chain head and the indexed block after a recent pass', () => {
    const health = indexerHealth({
      chainId: 1,
      chainHead: 120n,
      cursor: { indexedBlock: 100n, updatedAt: ago(1_000) },
      reported: running,
      now,
    });
    expect(health).toEqual({
      status: 'ok',
      chainId: 1,
      indexedBlock: '100',
      lag: 20,
      lastSyncAt: ago(1_000).toISOString(),
    });
  });

  it('never reports a negative lag when the indexed block is ahead of the head seen by the API', () => {
    const cursor = { indexedBlock: 105n, updatedAt: ago(0) };
    expect(indexerHealth({ chainId: 1, chainHead: 100n, cursor, reported: null, now }).lag).toBe(0);
  });

  it('is down when no pass ever ran on the chain', () => {
    const health = indexerHealth({ chainId: 7, chainHead: 5n, cursor: null, reported: running, now });
    expect(health).toMatchObject({ status: 'down', chainId: 7 });
    expect(health.error).toMatch(/no indexer pass has run on chain 7/);
  });

  it('is down once the last pass is older than the stale limit, with the reported error', () => {
    const cursor = { indexedBlock: 10n, updatedAt: ago(INDEXER_STALE_AFTER_MS + 5_000) };
    const fresh = { indexedBlock: 10n, updatedAt: ago(INDEXER_STALE_AFTER_MS - 5_000) };
    const reported = { ...running, lastError: 'HTTP request failed' };
    expect(indexerHealth({ chainId: 1, chainHead: 10n, cursor: fresh, reported, now })).toMatchObject({
      status: 'ok',
      lastError: 'HTTP request failed',
    });
    const health = indexerHealth({ chainId: 1, chainHead: 10n, cursor, reported, now });
    expect(health.status).toBe('down');
    expect(health.error).toBe(
      `no indexer pass for ${Math.round((INDEXER_STALE_AFTER_MS + 5_000) / 1000)} s: HTTP request failed`,
    );
  });

  it('is down when the worker reports its indexer stopped, even right after a pass', () => {
    const health = indexerHealth({
      chainId: 1,
      chainHead: 10n,
      cursor: { indexedBlock: 10n, updatedAt: ago(0) },
      reported: {
        running: false,
        lastError: 'reorg below the unfinalized window',
        reportedAt: now.toISOString(),
      },
      now,
    });
    expect(health).toMatchObject({
      status: 'down',
      error: 'the indexer stopped: reorg below the unfinalized window',
    });
  });

  it('relies on the cursor alone when nothing is reported (no Redis, or an indexer run elsewhere)', () => {
    const cursor = { indexedBlock: 3n, updatedAt: ago(10) };
    expect(indexerHealth({ chainId: 1, chainHead: 3n, cursor, reported: null, now }).status).toBe('ok');
  });
});

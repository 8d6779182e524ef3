/** The API side of the verifier: which distribution, and its published tree dump. */
import { VerifyInputError } from './errors.ts';
import type { DistributionToVerify } from './types.ts';

/** What `fetchPublishedDistribution` reads from the API: the distribution and its tree dump bytes. */
export type PublishedDistribution = { distribution: DistributionToVerify; treeBytes: Uint8Array };

/**
 * GET `<apiUrl>/v1/distributions/<id>` and `.../tree`. Only the portfolio, chain and recovery id are
 * taken from the first; the tree bytes are checked by `verifyDistribution`. Throws `VerifyInputError`
 * when the API cannot be reached or answers an error (404 unknown id, 409 tree not built yet).
 */
export async function fetchPublishedDistribution(
  apiUrl: string,
  id: string,
  fetchImpl: typeof fetch = fetch,
): Promise<PublishedDistribution> {
  const base = apiUrl.replace(/\/+$/, '');
  const get = async (url: string) => {
    let res: Response;
    try {
      res = await fetchImpl(url);
    } catch (error) {
      throw new VerifyInputError(`cannot reach ${url}: ${(error as Error).message.split('\n')[0]}`, {
        code: 'SERVICE_UNAVAILABLE',
        cause: error,
      });
    }
    if (!res.ok) {
      const body = await res.text().catch(() => '');
      let message = body.slice(0, 300);
      try {
        message = (JSON.parse(body) as { message?: string }).message ?? message;
      } catch {}
      throw new VerifyInputError(`${url} answered ${res.status}: ${message}`, {
        code: res.status === 404 ? 'NOT_FOUND' : res.status === 409 ? 'CONFLICT' : 'SERVICE_UNAVAILABLE',
      });
    }
    return res;
  };
  const detailUrl = `${base}/v1/distributions/${id}`;
  const detail = (await (await get(detailUrl)).json().catch(() => null)) as {
    chainId?: unknown;
    portfolio?: unknown;
    recoveryId?: unknown;
  } | null;
  if (
    detail === null ||
    typeof detail.portfolio !== 'string' ||
    !/^0x[0-9a-fA-F]{40}$/.test(detail.portfolio) ||
    typeof detail.recoveryId !== 'string' ||
    !/^\d{1,78}$/.test(detail.recoveryId)
  ) {
    throw new VerifyInputError(`${detailUrl} is not a distribution (no portfolio address or recoveryId)`);
  }
  const treeBytes = new Uint8Array(await (await get(`${detailUrl}/tree`)).arrayBuffer());
  return {
    distribution: {
      id,
      chainId: typeof detail.chainId === 'number' ? detail.chainId : undefined,
      portfolio: detail.portfolio,
      recoveryId: detail.recoveryId,
    },
    treeBytes,
  };
}

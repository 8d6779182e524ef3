/** The data room's one chain read: the document root a portfolio anchored (`Portfolio.documents()`). */
import { getAddress, type Hex, type PublicClient } from 'viem';
import { readAnchoredDocuments } from '../../chain/contracts/portfolio.ts';

/** `Portfolio.documents()`'s root at the latest block, lowercase. Throws a decoded `ChainError`. */
export async function readAnchoredRoot(client: PublicClient, portfolioAddress: string): Promise<Hex> {
  const { documentRoot } = await readAnchoredDocuments(client, { portfolio: getAddress(portfolioAddress) });
  return documentRoot.toLowerCase() as Hex;
}

// Task module for the flaky-service benchmark: enriches a user from a local HTTP service, as an
// ETL job calls a real one. A non-2xx answer throws, so the flow's retries and onError see it.

/** The service's answer for a user. */
export interface Enriched {
  readonly id: number;
  readonly score: number;
}

/** GETs `${base}/users/${id}` and returns its JSON; throws on an HTTP error status. */
export async function enrich(base: string, id: number): Promise<Enriched> {
  const response = await fetch(`${base}/users/${id}`);
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`GET /users/${id}: HTTP ${response.status}`);
  }
  return (await response.json()) as Enriched;
}

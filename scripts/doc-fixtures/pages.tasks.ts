// Doc fixture: an async task that waits on I/O and stops when its flow no longer wants it.
import { taskSignal } from 'millrace';

export async function fetchTitle(url: string): Promise<string> {
  const signal = taskSignal(); // before the first await
  const response = await fetch(url, { signal });
  return (await response.text()).match(/<title>(.*?)<\/title>/)?.[1] ?? '';
}

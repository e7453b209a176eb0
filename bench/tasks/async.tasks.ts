// Task module for the async-task benchmark: a task that waits (as I/O does) and uses no CPU.

/** Waits `ms` on a timer, then returns `x`. */
export async function sleepThen(ms: number, x: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return x;
}

/**
 * Timer limits shared by every module that arms a timer from a user's option.
 *
 * @packageDocumentation
 */

/**
 * setTimeout's largest delay (about 24.8 days): a larger one fires at once, with a
 * `TimeoutOverflowWarning`. Options up to `Infinity` are capped to it (a deadline re-arms).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

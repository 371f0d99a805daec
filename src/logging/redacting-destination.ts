import type { DestinationStream } from 'pino';
import { redactMyNumbers } from '../common/my-number/my-number.js';

/**
 * Every log line passes through here on its way out: any number of exactly twelve
 * digits (what a My Number looks like), in any spelling MY_NUMBER_LIKE knows
 * (full-width digits, groups split by hyphens or spaces of any width), is replaced,
 * whatever field or message it hid in. Working on the finished line catches what
 * field-based redaction would miss (error messages, stack traces, driver errors
 * quoting values).
 */
export function redactingDestination(inner: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      inner.write(redactMyNumbers(line));
    },
  };
}

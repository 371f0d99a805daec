import type { DestinationStream } from 'pino';
import { MY_NUMBER_LIKE } from '../common/my-number/my-number.js';

/**
 * Every log line passes through here on its way out: any run of exactly twelve digits
 * (what a My Number looks like) is replaced, whatever field or message it hid in.
 * Working on the finished line catches what field-based redaction would miss
 * (error messages, stack traces, driver errors quoting values).
 */
export function redactingDestination(inner: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      MY_NUMBER_LIKE.lastIndex = 0;
      inner.write(MY_NUMBER_LIKE.test(line) ? line.replace(MY_NUMBER_LIKE, '[redacted-12-digits]') : line);
    },
  };
}

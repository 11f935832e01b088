/**
 * Where Parley writes what went wrong behind the scenes: an upstream that cannot be reached, a
 * storage write that failed, a listener that threw. Members only ever see a code and a generic
 * message; the detail (hosts, ports, error numbers, HTTP statuses, upstream bodies, driver errors)
 * comes here.
 *
 * Shaped like pino's methods (object first, then the message), so pino, bunyan and most structured
 * loggers fit as they are; `console` fits too. Every call puts the original error under `err`.
 *
 * ```ts
 * import pino from 'pino';
 * new ChatEngine({ storage, logger: pino() });
 * ```
 */
export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
}

export type LogLevel = 'error' | 'warn' | 'info';

/** The default: one `console` line per event, the message first. */
export const consoleLogger: Logger = {
  error: (obj, msg) => console.error(`[parley] ${msg ?? 'error'}`, obj),
  warn: (obj, msg) => console.warn(`[parley] ${msg ?? 'warning'}`, obj),
  info: (obj, msg) => console.info(`[parley] ${msg ?? ''}`, obj),
};

/**
 * Writes to the host's logger; a logger that throws is ignored, because reporting a failure must
 * never become a failure of the write or delivery that reported it.
 */
export function log(logger: Partial<Logger>, level: LogLevel, obj: object, msg: string): void {
  try {
    logger[level]?.(obj, msg);
  } catch {
    // nowhere left to report it
  }
}

/** True when `value` has the methods a {@link Logger} needs (checked once, at construction). */
export function isLogger(value: unknown): value is Logger {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Logger).error === 'function' &&
    typeof (value as Logger).warn === 'function'
  );
}

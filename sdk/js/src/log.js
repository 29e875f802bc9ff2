// Structured log lines: kept with the call's outcome and sent live to an
// MCP client that asked (`logging/setLevel`), redacted by the host.

import { log } from 'airlock:tool/log@0.1.0';

function emit(level, message, fields) {
  log(level, String(message), Object.entries(fields ?? {}).map(([key, value]) => [String(key), String(value)]));
}

/** Logs at debug level, with `fields` (`{ key: value }`). */
export const debug = (message, fields) => emit('debug', message, fields);
/** Logs at info level. */
export const info = (message, fields) => emit('info', message, fields);
/** Logs at warn level. */
export const warn = (message, fields) => emit('warn', message, fields);
/** Logs at error level. */
export const error = (message, fields) => emit('error', message, fields);

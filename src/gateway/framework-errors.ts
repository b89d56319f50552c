// Errors raised before any route runs — by Fastify's router (a path that is not valid
// percent-encoding) or by Node's HTTP parser (a request that is not HTTP, headers too large, a
// body that does not arrive within REQUEST_TIMEOUT_MS) — answered in the documented shape
// {"error":{code,message,requestId}} instead of Fastify's or Node's own.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { type Duplex } from 'node:stream';
import { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { type Config } from '../config/config.js';
import { type ApiError, apiError } from './errors.js';

export const errorBody = (error: ApiError, requestId: string) => ({ error: { code: error.code, message: error.message, requestId } });

/** Fastify's `frameworkErrors`: the router's own errors (FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH…). */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  let error: ApiError;
  if (err.code === 'FST_ERR_BAD_URL')
    error = apiError('SALIENCY_BAD_REQUEST', ['the path is not valid percent-encoding (a % must be followed by two hexadecimal digits)']);
  else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') error = apiError('SALIENCY_BAD_REQUEST', ['a path segment is too long']);
  else error = apiError('SALIENCY_BAD_REQUEST', [err.message]);
  void reply
    .code(error.statusCode)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify(errorBody(error, request.id)));
}

/** Node's `clientError` (Fastify's `clientErrorHandler`): the request never reached the router. */
export function clientErrorHandler(config: Pick<Config, 'REQUEST_TIMEOUT_MS'>) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    // A reset connection has nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let error: ApiError;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') error = apiError('SALIENCY_REQUEST_TIMEOUT', [Math.round(config.REQUEST_TIMEOUT_MS / 1000)]);
    else if (err.code === 'HPE_HEADER_OVERFLOW') error = apiError('SALIENCY_HEADERS_TOO_LARGE');
    else error = apiError('SALIENCY_BAD_REQUEST', ['this is not a valid HTTP/1.1 request']);
    // A response already started on this socket (a body cut while its answer was being sent)
    // cannot be replaced; otherwise answer, as Node itself would, then close.
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && inFlight?.headersSent !== true) {
      const body = JSON.stringify(errorBody(error, randomUUID()));
      socket.write(
        `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(err);
  };
}

/**
 * Fastify options for the timeouts and the two handlers. Node checks request deadlines every
 * connectionsCheckingInterval (30 s by default), which would let a 1 s limit run to 30 s.
 */
export function boundaryOptions(config: Pick<Config, 'REQUEST_TIMEOUT_MS'>) {
  const requestTimeout = config.REQUEST_TIMEOUT_MS;
  return {
    requestTimeout,
    http: {
      requestTimeout,
      headersTimeout: Math.min(60_000, requestTimeout),
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(requestTimeout / 4))),
    },
    frameworkErrors,
    clientErrorHandler: clientErrorHandler(config),
    // Requests that arrive while closing are answered by the lifecycle hook, in our shape.
    return503OnClosing: false,
  };
}

// One error vocabulary: GatewayError carries an HTTP status and OpenAI's error fields; one renderer
// turns any thrown value into OpenAI's envelope {error:{message,type,param,code}}.

export type ErrorBody = {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    [extra: string]: unknown;
  };
};

type GatewayErrorOptions = {
  type?: string;
  code?: string | null;
  param?: string | null;
  cause?: unknown;
  /** extra response headers, e.g. retry-after */
  headers?: Record<string, string>;
  /** a body to send as is (an upstream error already in OpenAI's shape) */
  body?: Uint8Array;
};

export class GatewayError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | undefined;

  constructor(status: number, message: string, options: GatewayErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'GatewayError';
    this.status = status;
    this.type = options.type ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
    this.code = options.code ?? null;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
    this.body = options.body;
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null = null, code = 'invalid_request') =>
  new GatewayError(400, message, { param, code });

export const unauthorized = (message = 'Invalid API key. Send it as `Authorization: Bearer <key>`.') =>
  new GatewayError(401, message, { code: 'invalid_api_key' });

export const forbidden = (message = 'This route needs the admin key.') =>
  new GatewayError(403, message, { code: 'insufficient_permissions' });

export const notFound = (message = 'Not found.') => new GatewayError(404, message, { code: 'not_found' });

export const payloadTooLarge = (limitBytes: number) =>
  new GatewayError(413, `Request body is larger than the limit of ${limitBytes} bytes.`, {
    code: 'payload_too_large',
  });

export const badGateway = (message: string, cause?: unknown) =>
  new GatewayError(502, message, { type: 'upstream_error', code: 'bad_gateway', cause });

export const gatewayTimeout = (message: string, cause?: unknown) =>
  new GatewayError(504, message, { type: 'upstream_error', code: 'upstream_timeout', cause });

/** Any thrown value → a GatewayError; unknown errors become a 500 that reveals nothing internal. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError(500, 'The gateway failed to handle this request.', {
    type: 'api_error',
    code: 'internal_error',
    cause: err,
  });
}

/**
 * Maps an upstream non-2xx answer. 4xx (other than 401/403) are the client's problem and pass through
 * with their status; the body is kept byte for byte when it is already OpenAI-shaped, else wrapped.
 * 401/403 (the gateway's own token refused) and 5xx are the gateway's problem: 502.
 */
export function fromUpstream(
  status: number,
  body: Uint8Array,
  headers: Record<string, string> = {},
): GatewayError {
  const parsed = parseJson(body);
  const message = upstreamMessage(parsed) ?? `Upstream answered HTTP ${status}.`;
  if (status === 401 || status === 403) {
    return badGateway(`The upstream refused the gateway's credentials (HTTP ${status}): ${message}`);
  }
  if (status >= 500 || status < 400) {
    return badGateway(`The upstream failed (HTTP ${status}): ${message}`);
  }
  if (isOpenAiError(parsed)) return new GatewayError(status, message, { ...fieldsOf(parsed), headers, body });
  return new GatewayError(status, message, { code: codeForStatus(status), headers });
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
}

function isOpenAiError(value: unknown): value is { error: { message: string } & Record<string, unknown> } {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

function fieldsOf(value: { error: Record<string, unknown> }): GatewayErrorOptions {
  const { type, code, param } = value.error;
  return {
    type: typeof type === 'string' ? type : undefined,
    code: typeof code === 'string' ? code : null,
    param: typeof param === 'string' ? param : null,
  };
}

/** The human message of an upstream error body: OpenAI's `error.message`, HF's `error: "string"`, or `message`. */
export function upstreamMessage(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { error, message } = value as { error?: unknown; message?: unknown };
  if (typeof error === 'string') return error;
  if (isOpenAiError(value)) return value.error.message;
  if (typeof message === 'string') return message;
  return undefined;
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request',
  402: 'insufficient_quota',
  404: 'not_found',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  422: 'invalid_request',
  429: 'rate_limit_exceeded',
};

function codeForStatus(status: number): string {
  return CODE_BY_STATUS[status] ?? 'upstream_error';
}

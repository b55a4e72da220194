// The wire of an interactive exec session (GET /containers/:name/exec over WebSocket), shared by
// the server, the CLI and the dashboard.

/** The WebSocket subprotocol of an exec session; the server echoes it when a client offers it. */
export const EXEC_SUBPROTOCOL = 'nagaya.exec.v1';

/**
 * A browser cannot set Authorization on a WebSocket, and a token in the URL would be logged. As
 * Kubernetes does (`base64url.bearer.authorization.k8s.io.`), the token travels as one more
 * Sec-WebSocket-Protocol entry, this prefix then the token in base64url without padding, offered
 * beside EXEC_SUBPROTOCOL. The server accepts it on WebSocket upgrades only and never echoes it.
 */
export const BEARER_SUBPROTOCOL_PREFIX = 'base64url.bearer.nagaya.';

/** Stream ids: the first byte of each binary frame the server sends (output), as Kubernetes' channel.k8s.io does. */
export const EXEC_STDOUT = 1;
export const EXEC_STDERR = 2;

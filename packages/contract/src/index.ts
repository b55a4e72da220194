// The zod-free part of the contract, safe for a browser bundle; the request schemas are
// '@nagaya/contract/schemas'.
export { ERRORS, ERROR_CODES, isErrorCode, type ErrorBody, type ErrorCode } from './errors';
export { ApiError, apiErrorOf } from './api-error';
export { DEFAULT_PROJECT, DNS_LABEL, DNS_LABEL_MESSAGE, IMAGE_NAME, IMAGE_NAME_MESSAGE } from './names';
export * from './views';
export * from './network';
export { archiveBaseName, shortDigest } from './image-text';
export * from './volumes';
export { parseSize, SIZE_FORMS } from './sizes';
export { lastExitText, restartPolicyText, stopText } from './container-text';
export * from './runs';
export { BEARER_SUBPROTOCOL_PREFIX, EXEC_STDERR, EXEC_STDOUT, EXEC_SUBPROTOCOL } from './exec-socket';

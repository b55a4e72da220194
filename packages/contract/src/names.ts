/** Names the API accepts and the names every installation has (zod-free, so the dashboard can check a form before sending it). */

/** A DNS label (RFC 1123): container, project and token names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_LABEL_MESSAGE = 'must be a DNS label: a-z, 0-9 and -, 1 to 63 characters, not starting or ending with -';

/** An image's name as the API takes it: a-z, 0-9, -, . and _, with a :tag if it has one. */
export const IMAGE_NAME = /^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;
export const IMAGE_NAME_MESSAGE = 'must be an image name (a-z, 0-9, -, . and _), with a :tag if it has one';

/** The project every installation has, where everything of earlier releases landed; it cannot be deleted. */
export const DEFAULT_PROJECT = 'default';

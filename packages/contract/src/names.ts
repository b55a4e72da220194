/** Names the API accepts and the names every installation has (zod-free, so the dashboard can check a form before sending it). */

/** A DNS label (RFC 1123): container, project and token names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_LABEL_MESSAGE = 'must be a DNS label: a-z, 0-9 and -, 1 to 63 characters, not starting or ending with -';

/** The project every installation has, where everything of earlier releases landed; it cannot be deleted. */
export const DEFAULT_PROJECT = 'default';

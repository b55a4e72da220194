// Filled in by the server issue.
export {};

// Filled in by the native issue.
export {};

/**
 * What the REST API v1 returns, as JSON carries it (times are ISO-8601 strings). The server
 * builds these, and the CLI, the dashboard and the tests read them. One file per resource;
 * index.ts exports all of them through this one.
 */

export * from './container-views';
export * from './job-views';
export * from './pool-views';
export * from './node-views';
export * from './image-views';
export * from './token-views';
export * from './health-views';
export * from './project-views';

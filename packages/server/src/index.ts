export { loadConfig, type ServerConfig, type ServeRole } from './config';
export { startNagaya, VERSION, type NagayaServer } from './nagaya-server';
export { createLogger, type Logger } from './observability/logger';

// @nagaya/native: start, watch, stop and exec isolated containers. See runtime.ts for the API.
export { ContainerRuntime } from './runtime';
export { DEFAULT_CONSOLE_LOG_MAX_BYTES, LOST_EXIT } from './runtime-types';
export type {
  ExecOptions,
  ExecOutputEncoding,
  ExecResult,
  ExecSession,
  ExecSessionEnd,
  ExecSessionHandlers,
  ExecSessionOptions,
  LaunchedContainer,
  LaunchOptions,
  RunOutput,
  RuntimeOptions,
} from './runtime-types';
export { prepareShiftedCopy } from './shifted-copy';
export type { ShiftProgress } from './shifted-copy';
export {
  resolveLaunchPlan,
  resolveExec,
  execCandidates,
  isValidContainerId,
  DEFAULT_PATH,
  DEFAULT_PIDS_MAX,
  MAX_LAYERS,
  MAX_MOUNTS,
  RLIMIT_RESOURCES,
  DEFAULT_INIT_BINARY,
  MAX_RUN_TIMEOUT_MS,
  MAX_RUN_OUTPUT_LIMIT_BYTES,
  MAX_RUN_STDIN_BYTES,
} from './plan';
export type {
  LaunchPlan,
  PlanHost,
  ResolvedPlan,
  ContainerLimits,
  ContainerMount,
  ContainerSecurity,
  ResolvedMount,
  RlimitName,
} from './plan';
export { STOP_SIGNALS, DEFAULT_STOP_SIGNAL, stopSignalNumber } from './stop-signal';
export type { StopSignal, StopSignalName } from './stop-signal';
export { macFromIp, hostIfNameFor } from './network-plan';
export type { ContainerNetwork, ResolvedNetwork } from './network-plan';
export {
  ensureBridge,
  removeBridge,
  bridgePorts,
  removeStrayPorts,
  buildRuleset,
  buildRulesetAddition,
  buildRulesetRemoval,
  applyRuleset,
  addToRuleset,
  runNftScript,
  removeFromRuleset,
  removeRuleset,
  projectMark,
} from './host-network';
export type { BridgeOptions, NetworkRuleset, RulesetContainer, PublishedPort } from './host-network';
export {
  NAME_SERVER_RUN_DIR,
  ensureNameServer,
  nameServerArgs,
  nameServerPaths,
  nameServerPid,
  readNameServerHosts,
  stopNameServer,
  writeNameServerHosts,
} from './name-server';
export type { NameServerOptions, NameServerPaths } from './name-server';
export { idMapProblems, formatIdMapLine, hostRootOf, toHostId, MAX_ID_MAP_LINES } from './id-map';
export type { IdMapLine } from './id-map';
export { NativeError, errnoName } from './errors';
export type { NativeErrorDetails, UsageErrorCode } from './errors';
export { listContainerRecords, readContainerRecord, signalName } from './container-records';
export type { ContainerRecord, ExitStatus } from './container-records';
export { readStartTime, isSameProcess } from './proc-stat';
export { kernelMapMatches, processHasIdMaps } from './proc-id-maps';
export { buildBusyboxImage, DEFAULT_BUSYBOX } from './busybox-image';
export { extractArchive } from './extract-archive';
export { readContainerFile, writeIntoContainer } from './container-files';
export type { ContainerFile } from './container-files';
export { openContainerFileRead, openContainerWrite } from './container-file-streams';
export type { ContainerFileHead, ContainerFileReader, ContainerWriteLimits, ContainerWriter } from './container-file-streams';
export { singleFileTar, singleFileTarHead, singleFileTarTail } from './single-file-tar';
export type { ContainerFileAttributes } from './single-file-tar';
export type { ExtractLimits, ExtractResult, SkippedEntry } from './extract-archive';
export { loadAddon, findLauncher, findExtractor } from './loader';
export type { ExtractOptions } from './extract-archive';
export {
  importImage,
  importImageLayout,
  DEFAULT_MAX_LAYERS,
  listLayers,
  removeLayer,
  layerDir,
  removeStaleStaging,
  nodePlatform,
  blobPath,
  listBlobs,
  removeBlob,
  unpackPackedLayers,
  isPacked,
  listPacked,
} from './oci';
export type {
  ImportOptions,
  ImportedImage,
  ImportedLayer,
  StoredLayer,
  ImageConfig,
  ImageFormat,
  Platform,
  CheckedLayer,
  LayerBlob,
  PackedLayer,
  LayoutImportOptions,
} from './oci';
export { readConsoleLog, rfc3339Nano, CONSOLE_MAX_LINE_BYTES } from './console-log-reader';
export type { ConsoleLine, ConsoleRead, ConsoleReadOptions } from './console-log-reader';
export { readCgroupUsage, directoryDiskBytes } from './container-usage';
export type { CgroupUsage } from './container-usage';

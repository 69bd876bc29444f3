// A local Kubernetes control plane for tests, the demo and anyone trying a webhook without a cluster.
export { up, down, restart, readState, type DevCluster, type UpOptions, type ProcessRecord, type Component } from './cluster.ts';
export { ensureToolchain, toolchainIn, type Toolchain } from './toolchain.ts';
export { toolVersions, type ToolVersions } from './versions.ts';

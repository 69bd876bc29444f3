// A container of kube-latch's image run by runc the way a kubelet would run the chart's container: the
// image's root filesystem (buildah mount) read-only, the chart's args after the image's entrypoint, the
// image's env then the container's, the container's uid/gid, no capabilities, no new privileges, the
// chart's volumes as mounts (emptyDirs writable, Secrets read-only files owned root:fsGroup, mode 0440),
// and the host's network (so loopback servers are reachable; a pod would have its own). What containerd
// adds on top of this (the RuntimeDefault seccomp profile, cgroup limits) is not applied here.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, waitFor } from './cluster.ts';

export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
}

/** The image's run configuration, from `buildah inspect`. */
export async function imageConfig(image: string): Promise<ImageConfig> {
  const j = JSON.parse((await run('buildah', ['inspect', '--type', 'image', image])).stdout) as { OCIv1: { config: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string } } };
  const c = j.OCIv1.config;
  return { entrypoint: c.Entrypoint ?? [], cmd: c.Cmd ?? [], env: c.Env ?? [], workingDir: c.WorkingDir ?? '/' };
}

/** A read-only view of the image's files: a buildah working container, mounted; release() removes it. */
export async function mountImage(image: string): Promise<{ rootfs: string; release(): Promise<void> }> {
  const ctr = (await run('buildah', ['from', '--quiet', image])).stdout.trim();
  const rootfs = (await run('buildah', ['mount', ctr])).stdout.trim();
  return { rootfs, release: async () => void (await run('buildah', ['rm', ctr], { allowFail: true })) };
}

/** The part of a rendered container spec this runs. */
export interface ContainerSpec {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: { runAsUser?: number; runAsGroup?: number; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
}

export interface Volumes {
  /** emptyDir name → a host folder (created, owned by the container's user) */
  emptyDirs: Record<string, string>;
  /** Secret name → its files (written root:fsGroup, 0440, under a host folder) */
  secrets: Record<string, Record<string, string>>;
}

export interface RunningContainer {
  readonly id: string;
  readonly child: ChildProcess;
  output(): string;
  /** resolves with the container's exit code */
  readonly exited: Promise<number>;
  /** `runc kill ID SIGNAL` (what the kubelet's stop does first) */
  kill(signal: string): Promise<void>;
  /** kills it (SIGKILL) if still running and deletes its state */
  remove(): Promise<void>;
  /** the pid of its init process (tini), from `runc state` */
  initPid(): Promise<number>;
  /** `runc exec --user UID:GID ID ARGS`: a second process in it, as the container's user */
  exec(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * Writes an OCI bundle for one container of the chart under `dir` and starts it with `runc run`.
 * `fields` resolves the chart's fieldRef env (metadata.namespace, metadata.name); `extraEnv` and
 * `extraMounts` add what the kubelet injects (the ServiceAccount token, KUBERNETES_SERVICE_*).
 */
export async function runContainer(o: {
  dir: string;
  id: string;
  rootfs: string;
  image: ImageConfig;
  spec: ContainerSpec;
  fsGroup: number;
  volumes: Volumes;
  fields: Record<string, string>;
  extraEnv?: Record<string, string>;
  extraMounts?: { destination: string; source: string }[];
}): Promise<RunningContainer> {
  const sc = o.spec.securityContext ?? {};
  const uid = sc.runAsUser ?? 0;
  const gid = sc.runAsGroup ?? 0;
  const mounts: object[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  for (const vm of o.spec.volumeMounts ?? []) {
    let source = o.volumes.emptyDirs[vm.name];
    if (source) {
      mkdirSync(source, { recursive: true });
      chownSync(source, uid, o.fsGroup);
    } else if (o.volumes.secrets[vm.name]) {
      source = join(o.dir, 'secrets', o.spec.name, vm.name);
      mkdirSync(source, { recursive: true });
      for (const [file, content] of Object.entries(o.volumes.secrets[vm.name]!)) {
        writeFileSync(join(source, file), content);
        chownSync(join(source, file), 0, o.fsGroup);
        chmodSync(join(source, file), 0o440);
      }
    } else throw new Error(`${o.spec.name}: no volume ${vm.name} given`);
    mounts.push({ destination: vm.mountPath, type: 'bind', source, options: ['rbind', vm.readOnly ? 'ro' : 'rw'] });
  }
  for (const m of o.extraMounts ?? []) mounts.push({ destination: m.destination, type: 'bind', source: m.source, options: ['rbind', 'ro'] });

  const env = new Map(o.image.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  for (const e of o.spec.env ?? []) {
    const v = e.value ?? (e.valueFrom?.fieldRef ? o.fields[e.valueFrom.fieldRef.fieldPath] : undefined);
    if (v === undefined) throw new Error(`${o.spec.name}: env ${e.name} has no value here`);
    env.set(e.name, v);
  }
  for (const [k, v] of Object.entries(o.extraEnv ?? {})) env.set(k, v);

  const config = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid, gid, additionalGids: [o.fsGroup] },
      args: [...o.image.entrypoint, ...(o.spec.args ?? o.image.cmd)],
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: o.image.workingDir,
      // drop: ["ALL"]: every set empty
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      noNewPrivileges: sc.allowPrivilegeEscalation === false,
    },
    root: { path: o.rootfs, readonly: sc.readOnlyRootFilesystem === true },
    hostname: `${o.id}`,
    mounts,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  const bundle = join(o.dir, 'bundles', o.id);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  const state = join(o.dir, 'runc');
  mkdirSync(state, { recursive: true });
  const runc = (args: string[]) => run('runc', ['--root', state, ...args], { allowFail: true });

  const child = spawn('runc', ['--root', state, 'run', '--bundle', bundle, o.id], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-256 * 1024)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-256 * 1024)));
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  await waitFor(`runc to start ${o.id}`, async () => child.exitCode !== null || (await runc(['state', o.id])).code === 0, { timeoutMs: 20_000, intervalMs: 100 });
  if (child.exitCode !== null) throw new Error(`${o.id} exited at once (${child.exitCode}): ${out.slice(-2000)}`);
  return {
    id: o.id,
    child,
    output: () => out,
    exited,
    async kill(signal) {
      await runc(['kill', o.id, signal]);
    },
    initPid: async () => JSON.parse((await runc(['state', o.id])).stdout).pid as number,
    exec: (args) => runc(['exec', '--user', `${uid}:${gid}`, o.id, ...args]),
    async remove() {
      if (child.exitCode === null) {
        await runc(['kill', o.id, 'KILL']);
        await exited;
      }
      await runc(['delete', '--force', o.id]);
    },
  };
}

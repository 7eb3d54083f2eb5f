// Builds a sysfs tree laid out exactly as the kernel does (class/mdev_bus links into devices/,
// mdev_supported_types, bus/mdev/devices, mdevctl definitions) in a temp dir, for tests, the demo
// fleet and benchmarks. Each parent carries a simulated vendor policy; FakeSysfs consults it for
// writes. Plain synchronous fs calls: hundreds of devices take milliseconds.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isParentName, isPciAddress, isTypeId, isUuid } from '../../../src/api/validation.ts';
import { policyAvailable, policyVersion } from '../policies/registry.ts';
import type { ParentConfig, PolicySpec } from '../policies/policy.ts';
import type { CreationParam } from '../../../src/sysfs/inventory.ts';
import { IOMMU_GROUP_LINK, IOMMU_GROUPS_DIR, MDEV_BUS_CLASS, MDEV_BUS_DEVICES, MIGRATION_VERSION, NVIDIA_VF_VGPU_TYPE, PCI_BUS_DEVICES, SUPPORTED_TYPES, type SysfsLayout } from '../../../src/sysfs/layout.ts';
import { readMdevctlDefinition, toMdevctlJson } from '../../../src/sysfs/mdevctl.ts';

export interface FakeParentOptions {
  vendorId?: string;
  deviceId?: string;
  driver?: string;
  policy: PolicySpec;
}

export interface FakeTypeOptions {
  name?: string;
  description?: string;
  deviceApi: string;
  /** Initial available_instances; may be omitted when the policy derives it (mtty's port pool). */
  availableInstances?: number;
  /** undefined = from the policy; false = no attribute (type does not support migration); string = literal. */
  migrationVersion?: string | false;
}

export interface FakeVfOptions extends FakeParentOptions {
  migrationVersion?: string | false;
}

/** Who answers for an attribute: what FakeSysfs passes to the policy. */
export interface FakeOwner {
  kind: 'type' | 'mdev' | 'vf';
  parent: ParentConfig;
  typeId: string;
  creationParams: CreationParam[];
  uuid?: string;
}

interface ParentEntry { cfg: ParentConfig; dir: string; vfTypeId?: string }
interface TypeEntry { initial: number; migrationVersion?: string | false }
interface Manifest { parents: Record<string, ParentEntry>; types: Record<string, TypeEntry> }

const MANIFEST = 'fake-sysfs.json';

export class FakeTree {
  /** The temp dir; sysRoot is `<root>/sys`, mdevctl definitions are under `<root>/etc/mdevctl.d`. */
  readonly root: string;
  readonly layout: Required<SysfsLayout>;
  readonly #parents = new Map<string, ParentEntry>();
  readonly #parentByDir = new Map<string, string>();
  readonly #types = new Map<string, TypeEntry>();
  readonly #mdevs = new Map<string, { parent: string; typeId: string }>();
  /** Group numbers in use; read from the tree on first need (another process may have built it). */
  #groups: Set<number> | undefined;

  private constructor(root: string) {
    this.root = realpathSync(root);
    this.layout = { sysRoot: path.join(this.root, 'sys'), mdevctlRoot: path.join(this.root, 'etc', 'mdevctl.d') };
  }

  /** A fresh, empty tree in a new temp dir. */
  static create(prefix = 'fake-sysfs-'): FakeTree {
    const tree = new FakeTree(mkdtempSync(path.join(os.tmpdir(), prefix)));
    for (const d of [MDEV_BUS_CLASS, MDEV_BUS_DEVICES, PCI_BUS_DEVICES, IOMMU_GROUPS_DIR, 'devices']) mkdirSync(tree.sys(d), { recursive: true });
    mkdirSync(tree.layout.mdevctlRoot, { recursive: true });
    tree.#save();
    return tree;
  }

  /** Reopens a tree another process built (e.g. `agent --backend simulated --sysfs-root <root>`). */
  static open(root: string): FakeTree {
    const tree = new FakeTree(root);
    const m = JSON.parse(readFileSync(path.join(tree.root, MANIFEST), 'utf8')) as Manifest;
    for (const [name, entry] of Object.entries(m.parents)) tree.#registerParent(name, entry);
    for (const [key, entry] of Object.entries(m.types)) tree.#types.set(key, entry);
    tree.#rescanMdevs();
    return tree;
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Absolute path below sysRoot. */
  sys(...parts: string[]): string {
    return path.join(this.layout.sysRoot, ...parts);
  }

  parentDir(name: string): string {
    const entry = this.#parents.get(name);
    if (!entry) throw new Error(`fake tree: parent ${name} was not added; call addParent first`);
    return entry.dir;
  }

  addParent(name: string, opts: FakeParentOptions): this {
    if (!isParentName(name)) throw new Error(`fake tree: parent name ${JSON.stringify(name)} is not a PCI address or device name`);
    const dir = isPciAddress(name) ? this.#addPciDevice(name, opts) : this.#addClassDevice(name, opts);
    mkdirSync(path.join(dir, SUPPORTED_TYPES), { recursive: true });
    this.#link(this.sys(MDEV_BUS_CLASS, name), dir);
    this.#registerParent(name, { cfg: { ...identity(name, opts), policy: opts.policy }, dir });
    this.#save();
    return this;
  }

  addType(parent: string, typeId: string, opts: FakeTypeOptions): this {
    if (!isTypeId(typeId)) throw new Error(`fake tree: type id ${JSON.stringify(typeId)} is invalid`);
    const entry = this.#parent(parent);
    const dir = path.join(entry.dir, SUPPORTED_TYPES, typeId);
    mkdirSync(path.join(dir, 'devices'), { recursive: true });
    writeFileSync(path.join(dir, 'device_api'), `${opts.deviceApi}\n`);
    if (opts.name !== undefined) writeFileSync(path.join(dir, 'name'), `${opts.name}\n`);
    if (opts.description !== undefined) writeFileSync(path.join(dir, 'description'), `${opts.description}\n`);
    writeFileSync(path.join(dir, 'create'), '', { mode: 0o200 });
    const typeEntry: TypeEntry = { initial: opts.availableInstances ?? 0, migrationVersion: opts.migrationVersion };
    this.#types.set(`${parent}/${typeId}`, typeEntry);
    this.#writeVersion(path.join(dir, MIGRATION_VERSION), typeEntry.migrationVersion, entry.cfg, typeId, []);
    this.#refreshAvailable(parent);
    this.#save();
    return this;
  }

  addMdev(uuid: string, parent: string, typeId: string, creationParams: CreationParam[] = [], opts: { migrationVersion?: string | false } = {}): this {
    if (!isUuid(uuid)) throw new Error(`fake tree: ${JSON.stringify(uuid)} is not a canonical lowercase UUID`);
    if (this.#mdevs.has(uuid)) throw new Error(`fake tree: mdev ${uuid} already exists`);
    const entry = this.#parent(parent);
    const typeEntry = this.#types.get(`${parent}/${typeId}`);
    if (!typeEntry) throw new Error(`fake tree: type ${typeId} was not added to parent ${parent}`);
    const dir = path.join(entry.dir, uuid);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'remove'), '', { mode: 0o200 });
    this.#link(path.join(dir, 'mdev_type'), path.join(entry.dir, SUPPORTED_TYPES, typeId));
    this.#link(path.join(entry.dir, SUPPORTED_TYPES, typeId, 'devices', uuid), dir);
    this.#link(this.sys(MDEV_BUS_DEVICES, uuid), dir);
    this.#joinNewIommuGroup(dir);
    const version = opts.migrationVersion ?? (typeEntry.migrationVersion === false ? false : undefined);
    this.#writeVersion(path.join(dir, MIGRATION_VERSION), version, entry.cfg, typeId, creationParams);
    mkdirSync(path.join(this.layout.mdevctlRoot, parent), { recursive: true });
    writeFileSync(path.join(this.layout.mdevctlRoot, parent, uuid), toMdevctlJson(typeId, creationParams));
    this.#mdevs.set(uuid, { parent, typeId });
    this.#refreshAvailable(parent);
    return this;
  }

  removeMdev(uuid: string): this {
    const m = this.#mdevs.get(uuid);
    if (!m) throw new Error(`fake tree: mdev ${uuid} does not exist`);
    const dir = this.#parent(m.parent).dir;
    this.#leaveIommuGroup(path.join(dir, uuid));
    rmSync(this.sys(MDEV_BUS_DEVICES, uuid));
    rmSync(path.join(dir, SUPPORTED_TYPES, m.typeId, 'devices', uuid));
    rmSync(path.join(dir, uuid), { recursive: true });
    rmSync(path.join(this.layout.mdevctlRoot, m.parent, uuid), { force: true });
    this.#mdevs.delete(uuid);
    this.#refreshAvailable(m.parent);
    return this;
  }

  /** A vendor-VFIO VF (NVIDIA without mdev): `nvidia/current_vgpu_type` = vgpuType, 0 = none set. */
  addVendorVf(bdf: string, vgpuType: number, opts: FakeVfOptions): this {
    if (!isPciAddress(bdf)) throw new Error(`fake tree: VF address ${JSON.stringify(bdf)} is not a PCI address`);
    const withDriver = { ...opts, driver: opts.driver ?? 'nvidia' };
    const dir = this.#addPciDevice(bdf, withDriver);
    mkdirSync(path.join(dir, 'nvidia'));
    writeFileSync(path.join(dir, NVIDIA_VF_VGPU_TYPE), `${vgpuType}\n`);
    this.#joinNewIommuGroup(dir);
    const cfg = { ...identity(bdf, withDriver), policy: opts.policy };
    const typeId = `nvidia-${vgpuType}`;
    if (vgpuType !== 0) this.#writeVersion(path.join(dir, MIGRATION_VERSION), opts.migrationVersion, cfg, typeId, []);
    this.#registerParent(bdf, { cfg, dir, vfTypeId: typeId });
    this.#save();
    return this;
  }

  /** The IOMMU group number of a device directory (an mdev or a VF), as its `iommu_group` link names it. */
  iommuGroupOf(deviceDir: string): string | undefined {
    try {
      return path.basename(realpathSync(path.join(deviceDir, IOMMU_GROUP_LINK)));
    } catch {
      return undefined;
    }
  }

  /** Mdev UUIDs currently in the tree. */
  mdevs(): string[] {
    return [...this.#mdevs.keys()];
  }

  /** Maps a real attribute path to the simulated driver that owns it; undefined if none does. */
  ownerOf(realAttrPath: string): FakeOwner | undefined {
    const dir = path.dirname(realAttrPath);
    if (path.basename(path.dirname(dir)) === SUPPORTED_TYPES) {
      const parent = this.#parentAt(path.dirname(path.dirname(dir)));
      return parent && { kind: 'type', parent: parent.cfg, typeId: path.basename(dir), creationParams: [] };
    }
    const uuid = path.basename(dir);
    const m = this.#mdevs.get(uuid);
    if (m && this.#parentAt(path.dirname(dir)) === this.#parents.get(m.parent)) {
      const params = this.mdevctlParams(m.parent, uuid) ?? [];
      return { kind: 'mdev', parent: this.#parent(m.parent).cfg, typeId: m.typeId, creationParams: params, uuid };
    }
    const vf = this.#parentAt(dir);
    return vf?.vfTypeId === undefined ? undefined : { kind: 'vf', parent: vf.cfg, typeId: vf.vfTypeId, creationParams: [] };
  }

  /** Instances still creatable for a type (0 when unknown). */
  available(parent: string, typeId: string): number {
    const cfg = this.#parent(parent).cfg;
    const used = this.#usedBy(parent);
    const derived = policyAvailable(cfg, typeId, used);
    return derived ?? Math.max(0, (this.#types.get(`${parent}/${typeId}`)?.initial ?? 0) - (used.get(typeId) ?? 0));
  }

  /** The parent and type of an mdev in the tree. */
  mdevInfo(uuid: string): { parent: string; typeId: string } | undefined {
    const m = this.#mdevs.get(uuid);
    return m && { ...m };
  }

  hasMdev(uuid: string): boolean {
    return this.#mdevs.has(uuid);
  }

  /** Creation parameters from the device's mdevctl definition (what `create` applies). */
  mdevctlParams(parent: string, uuid: string): CreationParam[] | undefined {
    try {
      const def = readMdevctlDefinition(readFileSync(path.join(this.layout.mdevctlRoot, parent, uuid), 'utf8'));
      return def.ok ? def.creationParams : undefined;
    } catch {
      return undefined;
    }
  }

  #parent(name: string): ParentEntry {
    const entry = this.#parents.get(name);
    if (!entry || entry.vfTypeId !== undefined) throw new Error(`fake tree: parent ${name} was not added; call addParent first`);
    return entry;
  }

  #parentAt(dir: string): ParentEntry | undefined {
    const name = this.#parentByDir.get(dir);
    return name === undefined ? undefined : this.#parents.get(name);
  }

  #registerParent(name: string, entry: ParentEntry): void {
    this.#parents.set(name, entry);
    this.#parentByDir.set(entry.dir, name);
  }

  #addPciDevice(bdf: string, opts: FakeParentOptions): string {
    const [domain, bus] = bdf.split(':');
    const dir = this.sys('devices', `pci${domain}:${bus}`, bdf);
    mkdirSync(dir, { recursive: true });
    if (opts.vendorId) writeFileSync(path.join(dir, 'vendor'), `0x${opts.vendorId}\n`);
    if (opts.deviceId) writeFileSync(path.join(dir, 'device'), `0x${opts.deviceId}\n`);
    if (opts.driver) {
      const driverDir = this.sys('bus', 'pci', 'drivers', opts.driver);
      mkdirSync(driverDir, { recursive: true });
      this.#link(path.join(dir, 'driver'), driverDir);
    }
    this.#link(this.sys(PCI_BUS_DEVICES, bdf), dir);
    return dir;
  }

  #addClassDevice(name: string, opts: FakeParentOptions): string {
    const dir = this.sys('devices', 'virtual', opts.driver ?? name, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Relative links, as sysfs has them, so the tree stays valid if the temp dir is moved. */
  #link(linkPath: string, target: string): void {
    symlinkSync(path.relative(path.dirname(linkPath), target), linkPath);
  }

  /**
   * The kernel gives every mdev (and every VF) its own group and numbers groups with the lowest
   * free id, so numbering is deterministic in creation order and a removed device's number is reused.
   */
  #joinNewIommuGroup(deviceDir: string): void {
    const groupsDir = this.sys(IOMMU_GROUPS_DIR);
    mkdirSync(groupsDir, { recursive: true }); // trees saved before groups existed
    this.#groups ??= new Set(readdirSync(groupsDir).map(Number));
    let n = 0;
    while (this.#groups.has(n)) n++;
    this.#groups.add(n);
    const groupDir = path.join(groupsDir, String(n));
    mkdirSync(path.join(groupDir, 'devices'), { recursive: true });
    this.#link(path.join(groupDir, 'devices', path.basename(deviceDir)), deviceDir);
    this.#link(path.join(deviceDir, IOMMU_GROUP_LINK), groupDir);
  }

  #leaveIommuGroup(deviceDir: string): void {
    const group = this.iommuGroupOf(deviceDir);
    if (group === undefined) return;
    rmSync(this.sys(IOMMU_GROUPS_DIR, group), { recursive: true, force: true });
    this.#groups?.delete(Number(group));
  }

  #writeVersion(file: string, literal: string | false | undefined, cfg: ParentConfig, typeId: string, params: CreationParam[]): void {
    if (literal === false) return;
    const v = literal ?? policyVersion(cfg, typeId, params);
    // A policy that answers ENODEV still has the file; FakeSysfs fails the read as the driver would.
    writeFileSync(file, typeof v === 'string' ? `${v}\n` : '', { mode: 0o644 });
  }

  #usedBy(parent: string): Map<string, number> {
    const used = new Map<string, number>();
    for (const m of this.#mdevs.values()) if (m.parent === parent) used.set(m.typeId, (used.get(m.typeId) ?? 0) + 1);
    return used;
  }

  #refreshAvailable(parent: string): void {
    const prefix = `${parent}/`;
    for (const key of this.#types.keys()) {
      if (!key.startsWith(prefix)) continue;
      const typeId = key.slice(prefix.length);
      writeFileSync(path.join(this.#parent(parent).dir, SUPPORTED_TYPES, typeId, 'available_instances'), `${this.available(parent, typeId)}\n`);
    }
  }

  #rescanMdevs(): void {
    for (const uuid of readdirSync(this.sys(MDEV_BUS_DEVICES))) {
      const dir = realpathSync(this.sys(MDEV_BUS_DEVICES, uuid));
      const parent = this.#parentByDir.get(path.dirname(dir));
      if (parent !== undefined) this.#mdevs.set(uuid, { parent, typeId: path.basename(realpathSync(path.join(dir, 'mdev_type'))) });
    }
  }

  #save(): void {
    const manifest: Manifest = { parents: Object.fromEntries(this.#parents), types: Object.fromEntries(this.#types) };
    writeFileSync(path.join(this.root, MANIFEST), JSON.stringify(manifest));
  }
}

function identity(address: string, opts: FakeParentOptions): Omit<ParentConfig, 'policy'> {
  const id: Omit<ParentConfig, 'policy'> = { address };
  if (opts.vendorId) id.vendorId = opts.vendorId;
  if (opts.deviceId) id.deviceId = opts.deviceId;
  if (opts.driver) id.driver = opts.driver;
  return id;
}

// Accelerator VFs modelled on hisi_acc (magic, migration-driver major, device id, queue pairs) and
// QAT (service set), with the configuration coming from creation parameters (mdevctl attrs).
// Two devices of the same type created with different parameters are not interchangeable.
import type { CreationParam } from '../../../src/sysfs/inventory.ts';
import { ACCEPTED, einval, type AccelConfigConfig, type Acceptance, type LocalConfig, type ParentConfig, type PolicyRefusal, type VendorPolicy } from './policy.ts';
import { parseTagged } from './version-fields.ts';

const KNOWN_MAGIC = new Set(['v1', 'v2']);
const CONFIG_KEYS = ['qp', 'svc', 'agg'] as const;
const BUILTIN_DEFAULTS = { qp: '64', svc: 'sym+asym', agg: '1' };

/** The last value given for `key` wins, as mdevctl applies attrs in order. */
function param(params: CreationParam[], key: string): string | undefined {
  return params.findLast((p) => p.key === key)?.value;
}

function configValue(parent: ParentConfig<AccelConfigConfig>, params: CreationParam[], key: (typeof CONFIG_KEYS)[number]): string {
  return param(params, key) ?? parent.policy.defaults?.[key] ?? BUILTIN_DEFAULTS[key];
}

function version(parent: ParentConfig<AccelConfigConfig>, _typeId: string, params: CreationParam[]): string | PolicyRefusal {
  const cfg = CONFIG_KEYS.map((k) => `${k}=${configValue(parent, params, k)}`).join(';');
  return `accel;magic=${parent.policy.magic ?? 'v2'};drv=${parent.policy.driverVersion};dev=${parent.deviceId ?? '0000'};${cfg}`;
}

function accept(local: LocalConfig<AccelConfigConfig>, source: string): Acceptance {
  const f = parseTagged(source.replace(/\n$/, ''), 'accel');
  if (!f) return einval('malformed accelerator migration header');
  if (!KNOWN_MAGIC.has(f.get('magic') ?? '')) return einval(`unknown migration magic ${f.get('magic')} (expected v1 or v2)`);
  const { parent, creationParams } = local;
  const srcMajor = f.get('drv')?.split('.')[0];
  const localMajor = parent.policy.driverVersion.split('.')[0];
  if (srcMajor !== localMajor) return einval(`migration driver major ${srcMajor} differs from local ${localMajor}`);
  if (f.get('dev') !== (parent.deviceId ?? '0000')) return einval(`device id ${f.get('dev')} differs from local ${parent.deviceId}`);
  for (const key of CONFIG_KEYS) {
    const mine = configValue(parent, creationParams, key);
    if (f.get(key) !== mine) return einval(`${key} ${f.get(key)} differs from local ${mine}`);
  }
  return ACCEPTED;
}

export const accelConfig: VendorPolicy<AccelConfigConfig> = { version, accept };

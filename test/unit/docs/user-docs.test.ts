// The hand-written user docs must not rot: their links resolve, and the names they tell users to
// type or look for (chart values, condition reasons, metrics, agent flags) exist in the code.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DOCS = ['docs/install.md', 'docs/security.md', 'docs/kubevirt-setup.md', 'docs/troubleshooting.md', 'docs/api-reference.md', 'docs/nvml-backend.md', 'docs/exec-backend.md'];
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');

/** GitHub's heading anchor: lowercase, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

/** Relative Markdown links `[text](target)`, outside fenced code and code spans. */
function linksOf(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...withoutCode.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t));
}

/** Code spans in the first column of the Markdown table rows that follow `header`. */
function firstColumnCode(markdown: string, header: string): string[] {
  const start = markdown.indexOf(header);
  expect(start, `table "${header}"`).to.be.greaterThan(-1);
  const rows = markdown.slice(start).split('\n').slice(2);
  const out: string[] = [];
  for (const row of rows) {
    if (!row.startsWith('|')) break;
    const first = row.split(/(?<!\\)\|/)[1] ?? '';
    out.push(...[...first.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
  }
  return out;
}

/** Cells of the first Markdown table after `heading`, header and separator rows dropped. */
function tableAfter(markdown: string, heading: string): string[][] {
  const at = markdown.indexOf(heading);
  expect(at, `heading "${heading}"`).to.be.greaterThan(-1);
  const lines = markdown.slice(at).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split(/(?<!\\)\|/).slice(1, -1));
  }
  return rows;
}

const VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']);

type RbacRule = { resources: string[]; verbs: string[] };

/** Rules of the rendered ClusterRole and Role of one component (manifests/10-rbac.yaml). */
function renderedRules(component: 'agent' | 'controller'): RbacRule[] {
  const docs = read('manifests/10-rbac.yaml').split(/^---$/m).map((d) => parse(d) as { kind?: string; metadata?: { name?: string }; rules?: RbacRule[] } | null);
  return docs
    .filter((d) => (d?.kind === 'ClusterRole' || d?.kind === 'Role') && d.metadata?.name === `mdev-operator-${component}`)
    .flatMap((d) => d!.rules ?? []);
}

function sourceText(dir: string): string {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(ROOT, dir, f), 'utf8'))
    .join('\n');
}

describe('user docs (docs/*.md)', () => {
  for (const doc of DOCS) {
    it(`${doc}: every relative link points at an existing file and heading`, () => {
      const links = linksOf(read(doc));
      expect(links.length, `${doc} links somewhere`).to.be.greaterThan(0);
      for (const link of links) {
        const [file, anchor] = link.split('#') as [string, string | undefined];
        const target = file === '' ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), file);
        expect(existsSync(target), `${doc} links to missing ${link}`).to.equal(true);
        if (anchor) expect([...anchorsOf(readFileSync(target, 'utf8'))], `${doc} links to missing heading ${link}`).to.include(anchor);
      }
    });
  }

  it('install.md documents only chart values that exist in values.yaml', () => {
    const values = parse(read('charts/mdev-operator/values.yaml')) as Record<string, unknown>;
    const keys = firstColumnCode(read('docs/install.md'), '| Value | Default | Meaning |');
    expect(keys.length).to.be.greaterThan(10);
    for (const key of keys) {
      let node: unknown = values;
      for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
      expect(node, `values.yaml has no ${key}`).not.to.equal(undefined);
    }
  });

  for (const [component, heading] of [['agent', '## The agent: what it may touch in the API'], ['controller', '## The controller and webhook']] as const) {
    it(`security.md: the ${component} RBAC table lists exactly the verbs the rendered chart grants`, () => {
      const rows = tableAfter(read('docs/security.md'), heading).map(([resources = '', verbs = '']) => ({
        resources: [...resources.matchAll(/`([^`]+)`/g)].map((m) => m[1]!),
        verbs: new Set(verbs.split(/[^a-z]+/).filter((w) => VERBS.has(w))),
      }));
      const rules = renderedRules(component);
      expect(rules.length, `manifests/10-rbac.yaml has ${component} rules`).to.be.greaterThan(0);
      const granted = new Map<string, Set<string>>();
      for (const rule of rules) for (const r of rule.resources) granted.set(r, new Set([...(granted.get(r) ?? []), ...rule.verbs]));
      for (const [resource, verbs] of granted) {
        const documented = new Set(rows.filter((row) => row.resources.includes(resource)).flatMap((row) => [...row.verbs]));
        expect([...documented].sort(), `security.md ${component} verbs on ${resource}`).to.deep.equal([...verbs].sort());
      }
      for (const row of rows) expect(row.resources.some((r) => granted.has(r)), `security.md lists ${row.resources.join(', ')} not granted to the ${component}`).to.equal(true);
    });
  }

  it('troubleshooting.md names only condition reasons and verdicts the code produces', () => {
    const doc = read('docs/troubleshooting.md');
    const controller = sourceText('src/controller');
    for (const reason of firstColumnCode(doc, '| Reason | Meaning and fix |')) expect(controller, `reason ${reason}`).to.include(`'${reason}'`);
    const constants = read('src/api/v1alpha1/constants.ts');
    for (const verdict of firstColumnCode(doc, '| Verdict | Meaning |')) expect(constants, `verdict ${verdict}`).to.include(`'${verdict}'`);
  });

  it('metric, alert and readiness-check names in the docs exist in the code or chart', () => {
    const code = sourceText('src');
    const rule = read('charts/mdev-operator/templates/monitoring/prometheusrule.yaml');
    for (const doc of DOCS) {
      const text = read(doc);
      for (const metric of new Set(text.match(/\bmdev_(?:operator|agent)_[a-z_]+/g) ?? [])) expect(code, `${doc}: metric ${metric}`).to.include(`'${metric}'`);
      for (const alert of new Set(text.match(/\bMdevOperator[A-Z][A-Za-z]+/g) ?? [])) expect(rule, `${doc}: alert ${alert}`).to.include(`alert: ${alert}`);
    }
    const agent = read('src/agent/agent.ts');
    for (const check of ['discovery', 'informers', 'lease', 'consumers-unknown-no-podresources-socket']) expect(agent).to.include(`'${check}'`);
  });

  it('the errno meanings and refusal messages quoted in the docs are the ones the agent prints', () => {
    const flat = (text: string) => text.replace(/\s+/g, ' ');
    const troubleshooting = flat(read('docs/troubleshooting.md'));
    const quoted = [
      ['src/compat/errno-verdict.ts', 'the driver rejected the source version as incompatible'],
      ['src/compat/sysfs-backend.ts', 'attribute migration_version absent: the driver does not support migration'],
      ['src/placement/candidates.ts', 'is expired or missing'],
      ['src/webhook/denial-message.ts', 'is not a verified-compatible target'],
      ['src/controller/decision.ts', 'did not answer'],
      ['src/controller/snapshot.ts', 'for a renewal before treating the agent as unavailable'],
      ['src/controller/migration/plan.ts', 'whose leases look expired but cannot be judged yet (Lease updates seen for less than one lease duration), to renew them'],
      ['src/controller/manager.ts', 'Lost leadership (the Lease could not be renewed in time); stopping the reconcilers, serving on, campaigning again'],
      ['src/webhook/vmim-admission.ts', 'but no MdevDevice names it as consumer'],
      ['src/webhook/vmim-admission.ts', 'as its owner, but'],
      ['src/webhook/vmim-admission.ts', 'caches are catching up with the API server'],
    ] as const;
    for (const [file, text] of quoted) {
      expect(troubleshooting, `troubleshooting.md quotes "${text}"`).to.include(text);
      expect(read(file), `${file} still says "${text}"`).to.include(text);
    }
    const security = flat(read('docs/security.md'));
    const policy = flat(read('charts/mdev-operator/templates/agent/admission-policy.yaml'));
    for (const text of ['the agent must use a pod-bound service-account token', 'may only write objects of its own node']) {
      expect(security).to.include(text);
      expect(policy, `admission policy still says "${text}"`).to.include(text);
    }
    for (const attr of ['migration_version', 'create', 'remove']) expect(read('src/sysfs/sysfs-io.ts')).to.include(`'${attr}'`);
  });
});

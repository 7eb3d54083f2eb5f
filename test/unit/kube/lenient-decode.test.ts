import { expect } from 'chai';
import { z } from 'zod';
import { decodeLeniently, firstUnreadable, unreadableFields } from '../../../src/kube/lenient-decode.ts';

const schema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), uid: z.string() }),
  spec: z.looseObject({ list: z.array(z.string()).optional(), inner: z.looseObject({ n: z.number() }).optional() }).default({}),
});
const groups = [['spec'], ['spec', 'list'], ['spec', 'inner']] as const;

describe('lenient decoding (fields in a shape we cannot read are dropped and named, never the object)', () => {
  it('decodes a clean object unchanged, unknown fields kept, nothing unreadable', () => {
    const r = decodeLeniently(schema, { metadata: { name: 'a', uid: 'u' }, spec: { list: ['x'], extra: 1 } }, groups);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value.spec).to.deep.equal({ list: ['x'], extra: 1 });
    expect(unreadableFields(r.value)).to.deep.equal([]);
  });

  it('drops each unreadable group, keeps the rest and remembers the dropped paths with the reason', () => {
    const raw = { metadata: { name: 'a', uid: 'u' }, spec: { list: 'not-a-list', inner: { n: 'NaN' }, keep: true } };
    const r = decodeLeniently(schema, raw, groups);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value.spec).to.deep.equal({ keep: true });
    expect(unreadableFields(r.value)).to.have.members(['spec.list', 'spec.inner']);
    expect(firstUnreadable(r.value, ['spec.inner'])?.reason).to.match(/^spec\.inner\.n: .*number/);
    expect(firstUnreadable(r.value, ['spec.other'])).to.equal(undefined);
    // The input is not modified.
    expect(raw.spec.list).to.equal('not-a-list');
  });

  it('a whole unreadable spec becomes the default, named as spec', () => {
    const r = decodeLeniently(schema, { metadata: { name: 'a', uid: 'u' }, spec: 'broken' }, groups);
    expect(r.ok && unreadableFields(r.value)).to.deep.equal(['spec']);
    expect(r.ok && firstUnreadable(r.value, ['spec.list'])?.field).to.equal('spec');
  });

  it('fails, naming the field, when the object identity itself cannot be read', () => {
    const r = decodeLeniently(schema, { metadata: { name: 'a' }, spec: { list: 3 } }, groups);
    expect(r).to.deep.include({ ok: false, field: 'metadata.uid' });
  });
});

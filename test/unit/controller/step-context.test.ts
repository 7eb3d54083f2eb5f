import { expect } from 'chai';
import type { MdevNode } from '../../../src/api/v1alpha1/index.ts';
import type { ControllerCaches } from '../../../src/controller/caches.ts';
import { StepContext, WAIT_RETRY_MS, WOKEN_RETRY_MS, type MigrationReconcilerOptions } from '../../../src/controller/migration/context.ts';
import type { StatusWriter } from '../../../src/controller/migration/status-writer.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { migration, mdevNode } from './fixtures.ts';

const log = loggerFor('test');

/** A context whose only cache is a map of MdevNodes (what the waits read). */
function contextOver(nodes: Map<string, MdevNode>): StepContext {
  const caches = { mdevNodes: { get: (name: string) => nodes.get(name) } } as unknown as ControllerCaches;
  return new StepContext({ caches, log } as unknown as MigrationReconcilerOptions, {} as StatusWriter);
}

const at = (name: string, resourceVersion: string): MdevNode => ({ ...mdevNode(name), metadata: { name, resourceVersion } });

describe('reconciler waits (StepContext)', () => {
  it('after a lost claim, plans again only once the MdevNode cache shows the version that lost it', () => {
    const nodes = new Map([['w1', at('w1', '99')]]);
    const ctx = contextOver(nodes);
    const m = migration('m', 'Probing');
    expect(ctx.cacheSawLoss(m), 'nothing lost yet').to.equal(true);
    ctx.rememberLoss(m, { node: 'w1', seenVersion: '100' });
    expect(ctx.cacheSawLoss(m), 'the cache still shows 99 ("99" > "100" as text)').to.equal(false);
    nodes.set('w1', at('w1', '100'));
    expect(ctx.cacheSawLoss(m)).to.equal(true);
    nodes.set('w1', at('w1', '5'));
    expect(ctx.cacheSawLoss(m), 'seen once, forgotten').to.equal(true);
    ctx.rememberLoss(m, { node: 'w2', seenVersion: '7' });
    expect(ctx.cacheSawLoss(m), 'a node the cache no longer holds blocks nothing').to.equal(true);
    ctx.rememberLoss(m, { node: 'w1' });
    expect(ctx.cacheSawLoss(m), 'a loss without a version blocks nothing').to.equal(true);
  });

  it('a waiting migration is handed back once to whoever wakes the waiting, and forgotten with its object', () => {
    const ctx = contextOver(new Map([['w1', at('w1', '1')]]));
    const [a, b] = [migration('a', 'Probing'), migration('b', 'Probing')];
    expect(ctx.wait(a, 'caches behind')).to.deep.equal({ requeueAfter: WAIT_RETRY_MS });
    expect(ctx.wait(a, 'caches behind'), 'twice is still one entry').to.deep.equal({ requeueAfter: WAIT_RETRY_MS });
    expect(ctx.wait(b, 'agent silent', 3_000)).to.deep.equal({ requeueAfter: 3_000 });
    expect(ctx.takeWaiting().sort()).to.deep.equal(['vms/a', 'vms/b']);
    expect(ctx.takeWaiting()).to.deep.equal([]);
    ctx.wait(a, 'again');
    ctx.rememberLoss(a, { node: 'w1', seenVersion: '9' });
    expect(ctx.cacheSawLoss(a)).to.equal(false);
    ctx.forget('vms/a');
    expect(ctx.takeWaiting()).to.deep.equal([]);
    expect(ctx.cacheSawLoss(a), 'the loss went with the object').to.equal(true);
  });

  it('a wake-up that comes while a migration is being reconciled cuts the wait that reconcile ends in short (no lost wake-up)', async () => {
    const ctx = contextOver(new Map());
    const [a, b] = [migration('a', 'Probing'), migration('b', 'Probing')];
    // a: decides from caches read before a lease renewal lands, then waits for that renewal.
    const woken = await ctx.reconciling('vms/a', async () => {
      expect(ctx.takeWaiting(), 'a is not waiting yet: nothing to hand back').to.deep.equal([]);
      return ctx.wait(a, 'agent lease looks expired');
    });
    expect(woken).to.deep.equal({ requeueAfter: WOKEN_RETRY_MS });
    // b: no wake-up during its reconcile: it waits the whole period, and the next wake-up hands it back.
    expect(await ctx.reconciling('vms/b', async () => ctx.wait(b, 'agent lease looks expired'))).to.deep.equal({ requeueAfter: WAIT_RETRY_MS });
    // a wake-up during a reconcile that did not wait is not carried over to a later one.
    await ctx.reconciling('vms/a', async () => void ctx.takeWaiting());
    expect(await ctx.reconciling('vms/a', async () => ctx.wait(a, 'again'))).to.deep.equal({ requeueAfter: WAIT_RETRY_MS });
    expect(ctx.takeWaiting().sort()).to.deep.equal(['vms/a']);
  });
});

// `mdev-operator agent --node-name N ...`: runs the node agent until SIGTERM or SIGINT.
import { setLogLevel } from '../observability/logger.ts';
import { metricsRegistry } from '../observability/metrics.ts';
import { parseAgentConfig } from './agent-flags.ts';
import { startAgent, type AgentDeps } from '../agent/agent.ts';
import type { AgentConfig } from '../agent/config.ts';
import { kubeConfigFromFlags, untilSignal } from './flags.ts';

/** Extra dependencies chosen from the parsed config (the dev CLI's simulated backend). */
export type AgentBacking = (config: AgentConfig) => Pick<AgentDeps, 'io' | 'backend'>;

export async function agentCommand(argv: string[], backing?: AgentBacking): Promise<number> {
  const config = parseAgentConfig(argv);
  setLogLevel(config.logLevel);
  const kc = kubeConfigFromFlags({ kubeconfig: config.kubeconfig, context: config.context });
  const agent = await startAgent(config, { kc, registry: metricsRegistry, ...backing?.(config) });
  const signal = await untilSignal();
  process.stderr.write(`mdev-operator agent: ${signal} received, stopping\n`);
  await agent.stop();
  return 0;
}

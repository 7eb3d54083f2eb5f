// Structured JSON logs (Kubernetes log style: capitalized, past tense, object named in fields).
import winston from 'winston';

export type Logger = winston.Logger;

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const level = process.env.MDEV_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'error' : 'info');

export const rootLogger: Logger = winston.createLogger({
  level,
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
});

/** A child logger that stamps every line with `component` (agent, controller, webhook, ...). */
export function loggerFor(component: string, fields: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...fields });
}

export function setLogLevel(next: string): void {
  rootLogger.level = next;
}

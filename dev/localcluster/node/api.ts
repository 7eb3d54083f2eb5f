// Minimal admin calls to the local API server (no client library: the local cluster code runs
// before anything else is set up, and needs only GETs).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Pki } from '../pki.ts';

export function getJson<T>(server: string, path: string, pki: Pki): Promise<{ status: number; body?: T }> {
  return new Promise((resolve) => {
    const req = request(`${server}${path}`, {
      ca: readFileSync(pki.ca), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey), timeout: 5000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T });
        } catch {
          resolve({ status: res.statusCode ?? 0 });
        }
      });
    });
    req.on('error', () => resolve({ status: 0 }));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export interface NodeObject {
  spec?: { taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[]; addresses?: { type: string; address: string }[] };
}

export function nodeReady(n: NodeObject | undefined): boolean {
  return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

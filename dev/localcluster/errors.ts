/** A local-cluster failure that names its cause and the fix, so a newcomer is never left guessing. */
export class ClusterError extends Error {
  readonly remedy: string;
  constructor(cause: string, remedy: string) {
    super(`${cause}. Fix: ${remedy}`);
    this.name = 'ClusterError';
    this.remedy = remedy;
  }
}

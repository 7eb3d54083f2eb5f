/** Invalid flags or configuration: the CLI exits 2 with this message, which names the flag. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

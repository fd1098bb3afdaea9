/**
 * @module Group read: reads by key made on the pool by concurrent requests share one
 * `… WHERE key = ANY($1)` statement, so one round trip (and one statement for the database to
 * run) serves many requests, as group-commit.ts does for writes. Only for reads outside any
 * transaction: a transaction reads through its own connection, unbatched.
 *
 * Keys asked for while the event loop handles one batch of I/O are read together on the next
 * turn (setImmediate); at most `maxInFlight` statements run at once, and keys that arrive
 * meanwhile wait for the next one. A statement is only sent after its callers asked, so a read
 * sees at least everything committed before it was asked for. The same key asked for twice in
 * one batch is read once; a batch that fails rejects every caller in it with that error.
 */
export interface GroupReadOptions<K, R> {
  /** Rows for `keys` (distinct, at most `maxBatch`) in ONE statement, in any order; missing keys have no row. */
  readMany(keys: K[]): Promise<R[]>;
  /** The row of one key: a batch of one (the plain statement, as without batching). */
  readOne(key: K): Promise<R | undefined>;
  /** The key a row was read by. */
  keyOf(row: R): K;
  /** Keys per statement at most. */
  maxBatch: number;
  /** Statements running at once at most (each holds a pool connection). */
  maxInFlight: number;
}

interface Waiter<R> {
  resolve: (row: R | undefined) => void;
  reject: (err: unknown) => void;
}

export class GroupRead<K, R> {
  /** Waiters by key, in the order the keys were first asked for. */
  private queue = new Map<K, Waiter<R>[]>();
  private inFlight = 0;
  private scheduled = false;
  /** Statements sent and distinct keys they carried (tests and metrics). */
  batches = 0;
  keys = 0;

  constructor(private readonly options: GroupReadOptions<K, R>) {}

  /** The row of `key`, or undefined when there is none. */
  read(key: K): Promise<R | undefined> {
    return new Promise<R | undefined>((resolve, reject) => {
      const waiters = this.queue.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.queue.set(key, [{ resolve, reject }]);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.size === 0 || this.inFlight >= this.options.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.size > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = new Map<K, Waiter<R>[]>();
      for (const [key, waiters] of this.queue) {
        if (batch.size >= this.options.maxBatch) break;
        batch.set(key, waiters);
        this.queue.delete(key);
      }
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async run(batch: Map<K, Waiter<R>[]>): Promise<void> {
    this.batches++;
    this.keys += batch.size;
    const found = new Map<K, R>();
    try {
      if (batch.size === 1) {
        const [key] = batch.keys();
        const row = await this.options.readOne(key!);
        if (row !== undefined) found.set(key!, row);
      } else {
        for (const row of await this.options.readMany([...batch.keys()])) found.set(this.options.keyOf(row), row);
      }
    } catch (err) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
      return;
    }
    for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key));
  }
}

/**
 * A PostgreSQL text[] literal of `values` (each quoted, so any text is kept as is), to be
 * passed as text and cast (`$1::text::text[]`): both drivers then send one plain text value.
 */
export function textArrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
}

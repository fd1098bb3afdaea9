/**
 * @module Group commit: rows written by concurrent requests share one multi-row INSERT, so one
 * round trip and one WAL flush serve many requests (the commit, not the CPU, is what bounds a
 * one-row-per-request endpoint at high rates; BENCHMARKS.md). Durability is unchanged: each
 * caller's promise settles only once its own row is committed (or has failed).
 *
 * Rows queued while the event loop handles one batch of I/O are written together on the next
 * turn (setImmediate); at most `maxInFlight` batches run at once, and rows that arrive meanwhile
 * wait for the next one. A batch that fails is retried row by row, so one bad row fails only
 * its own caller; when the database is unreachable every caller gets that error at once.
 */
export interface GroupCommitOptions<T> {
  /** Writes every row in ONE statement (one implicit transaction): all or nothing. */
  writeMany(rows: T[]): Promise<void>;
  /** Writes one row: a batch of one, and the fallback after a failed batch. */
  writeOne(row: T): Promise<void>;
  /** True when an error says the database cannot serve at all (no point in retrying each row). */
  isUnavailable(err: unknown): boolean;
  /** Rows per statement at most. */
  maxBatch: number;
  /** Statements running at once at most (each holds a pool connection). */
  maxInFlight: number;
}

interface Pending<T> {
  row: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** Statements written and rows they carried (tests and metrics). */
  batches = 0;
  rows = 0;

  constructor(private readonly options: GroupCommitOptions<T>) {}

  /** Resolves once `row` is committed; rejects with its own error otherwise. */
  write(row: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.options.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.commit(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async commit(batch: Pending<T>[]): Promise<void> {
    this.batches++;
    this.rows += batch.length;
    if (batch.length === 1) return this.one(batch[0]!);
    try {
      await this.options.writeMany(batch.map((p) => p.row));
    } catch (err) {
      if (this.options.isUnavailable(err)) {
        for (const p of batch) p.reject(err);
        return;
      }
      // The statement wrote nothing: each row alone, so that only the bad one fails.
      for (const p of batch) await this.one(p);
      return;
    }
    for (const p of batch) p.resolve();
  }

  private async one(p: Pending<T>): Promise<void> {
    try {
      await this.options.writeOne(p.row);
      p.resolve();
    } catch (err) {
      p.reject(err);
    }
  }
}

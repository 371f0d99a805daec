import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { FanoutRepository } from './fanout.repository.js';
import type { AnswerRow } from './fanout.repository.js';

/** How long answers wait for others before they are written together. */
const FLUSH_AFTER_MS = 5;
/** Written at once when this many rows wait. */
const MAX_ROWS = 5000;

interface Waiting {
  rows: AnswerRow[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for peer answers: the hundreds of node jobs a fan-out runs at once
 * each hand over their rows and wait; one INSERT writes what arrived within a few
 * milliseconds. A job completes only once its rows are committed, so nothing
 * acknowledged is lost; if the statement fails, every waiting job fails and is retried.
 */
@Injectable()
export class AnswerWriter {
  private waiting: Waiting[] = [];
  private rowCount = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: DataSource,
    private readonly repository: FanoutRepository,
  ) {}

  write(rows: AnswerRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ rows, resolve, reject });
      this.rowCount += rows.length;
      if (this.rowCount >= MAX_ROWS) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), FLUSH_AFTER_MS);
    });
  }

  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    this.rowCount = 0;
    try {
      await this.repository.writeAnswers(this.db, batch.flatMap((w) => w.rows));
      for (const w of batch) w.resolve();
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findFeedbackLogs } from '../../../src/io/feedbackLogs.ts';
import { tempDir } from './helpers.ts';

const write = (file: string, text = '{}\n') => {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
};

describe('finding Continue and Tabby logs', () => {
  it('lists autocomplete.jsonl of each dev_data schema and the event files, oldest first, in the home folder', () => {
    const home = tempDir('feedback-home');
    write(join(home, '.continue/dev_data/0.2.0/autocomplete.jsonl'), 'x'.repeat(10));
    write(join(home, '.continue/dev_data/0.1.0/autocomplete.jsonl'));
    write(join(home, '.continue/dev_data/0.2.0/chatInteraction.jsonl'));
    write(join(home, '.tabby/events/2025-12-02.json'));
    write(join(home, '.tabby/events/2025-12-01.json'));
    write(join(home, '.tabby/events/notes.txt'));
    const found = findFeedbackLogs({}, home);
    assert.deepEqual(
      found.map((logs) => [logs.format, logs.files.map((f) => f.path.slice(home.length))]),
      [
        [
          'continue',
          ['/.continue/dev_data/0.1.0/autocomplete.jsonl', '/.continue/dev_data/0.2.0/autocomplete.jsonl'],
        ],
        ['tabby', ['/.tabby/events/2025-12-01.json', '/.tabby/events/2025-12-02.json']],
      ],
    );
    assert.equal(found[0]!.files[1]!.bytes, 10);
  });

  it('honours CONTINUE_GLOBAL_DIR (absolute only, as Continue does) and TABBY_ROOT, and lists nothing when none exist', () => {
    const home = tempDir('feedback-env');
    const elsewhere = tempDir('feedback-elsewhere');
    write(join(elsewhere, 'continue/dev_data/0.2.0/autocomplete.jsonl'));
    write(join(elsewhere, 'tabby/events/2025-12-01.json'));
    assert.deepEqual(findFeedbackLogs({}, home), []);
    const env = { CONTINUE_GLOBAL_DIR: join(elsewhere, 'continue'), TABBY_ROOT: join(elsewhere, 'tabby') };
    assert.deepEqual(
      findFeedbackLogs(env, home).map((l) => l.format),
      ['continue', 'tabby'],
    );
    assert.deepEqual(
      findFeedbackLogs({ CONTINUE_GLOBAL_DIR: 'continue' }, home),
      [],
      'a relative folder is not used',
    );
  });
});

// The README's "ten lines" snippet is test/readme/snippet.ts, verbatim: this test runs it and
// checks that the README still shows exactly that text.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (relative: string): string => readFileSync(new URL(relative, import.meta.url), 'utf8');

describe('README snippet', () => {
  it('is the file this test runs, character for character', () => {
    const readme = read('../README.md');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(read('./readme/snippet.ts'));
  });

  it('runs: the gradcheck and the override check pass (each throws otherwise)', async () => {
    await expect(import('./readme/snippet.js')).resolves.toBeDefined();
  });
});

// The demo's main() in-process, with what it printed: how the tests run a command as a user would
// type it, without a process of its own.
import { main } from '../src/main.js';

export async function runMain(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    write: (text) => {
      stdout += text;
    },
    error: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

import { main } from './main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`prefer: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);

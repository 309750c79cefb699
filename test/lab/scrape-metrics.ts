/** Prints what the agent in the lab guest serves on /metrics (test/lab/modules-late.test.ts runs it there). */
fetch(`http://127.0.0.1:${process.argv[2] ?? '9464'}/metrics`)
  .then((r) => r.text())
  .then((t) => process.stdout.write(t))
  .catch((err: Error) => {
    process.stderr.write(`scrape: ${err.message} ${String((err as Error & { cause?: unknown }).cause ?? '')}\n`);
    process.exit(1);
  });

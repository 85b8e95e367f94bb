// A child process a test file starts (the server under test, the S3 stand-in): killed if the
// test process exits first, stopped with SIGTERM (SIGKILL after a bound) when the test is done.

/** Failure bound for a child to stop after SIGTERM before it is killed. */
const stopTimeoutMs = 5_000;

/** `exited` resolves with the child's `{code, signal}`; `stop()` ends it and waits for that. */
export function supervise(child) {
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      await exited;
      clearTimeout(timer);
    }
  };
  return { exited, stop };
}

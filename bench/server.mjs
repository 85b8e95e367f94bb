// What the benchmark scripts share about the server they start.
import readline from 'node:readline';

/** Resolves with the URL of `basalt serve --port 0` once it prints its listening line. */
export function listening(server, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line within ${timeoutMs} ms`)), timeoutMs);
    readline.createInterface({ input: server.stdout }).on('line', (line) => {
      const match = /^basalt listening on (http:\/\/\S+)\s*$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    server.once('exit', (code, signal) => reject(new Error(`basalt exited (code ${code}, signal ${signal})`)));
    server.once('error', reject);
  });
}

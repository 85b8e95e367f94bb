// A real SMTP sink for the email tests: an SMTP server (nodemailer's `smtp-server`) on
// 127.0.0.1 with a free port, no TLS and no authentication, that parses every message it
// accepts (`mailparser`, so quoted-printable or base64 bodies come out as plain text) and hands
// it to whoever waits for a mail to that address.

import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** Upper bound for an expected mail to arrive; only a failure bound, never a wait. */
const mailTimeoutMs = 5_000;

/**
 * @typedef {{to: string[], from: string, subject: string, text: string}} Mail
 *   `to`: the envelope recipients, lower-cased; `from`: the From header as sent; `text`: the
 *   decoded plain-text body.
 */

/**
 * Starts the sink.
 *
 * @returns {Promise<{url: string, mails: Mail[], nextMail: (to: string) => Promise<Mail>,
 *   stop: () => Promise<void>}>}
 *   `url`: `smtp://127.0.0.1:PORT`, for `--smtp-url`; `mails`: every mail received, in order;
 *   `nextMail(to)`: the oldest mail to `to` not yet taken by an earlier call, as soon as it is
 *   there (rejects after a few seconds if none comes).
 */
export async function startMailSink() {
  const mails = [];
  const unclaimed = []; // received, not yet returned by nextMail
  const waiters = []; // {to, resolve}

  const deliver = (mail) => {
    mails.push(mail);
    const index = waiters.findIndex((waiter) => mail.to.includes(waiter.to));
    if (index === -1) {
      unclaimed.push(mail);
    } else {
      const [waiter] = waiters.splice(index, 1);
      waiter.resolve(mail);
    }
  };

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          deliver({
            to: session.envelope.rcptTo.map(({ address }) => address.toLowerCase()),
            from: parsed.from?.text ?? '',
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
          });
          callback();
        })
        .catch(callback);
    },
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address();

  const nextMail = (address) => {
    const to = address.toLowerCase();
    const index = unclaimed.findIndex((mail) => mail.to.includes(to));
    if (index !== -1) return Promise.resolve(unclaimed.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        to,
        resolve: (mail) => {
          clearTimeout(timer);
          resolve(mail);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`no mail to ${address} within ${mailTimeoutMs} ms (received: ${
          JSON.stringify(mails.map(({ to: rcpt, subject }) => ({ to: rcpt, subject })))})`));
      }, mailTimeoutMs);
      waiters.push(waiter);
    });
  };

  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    nextMail,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

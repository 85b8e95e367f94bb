//! The SMTP mailer (lettre): verification and password-reset mails go out through any SMTP
//! server given as a URL (`smtp://user:pass@host:587?tls=required`, `smtps://host:465`).

use std::future::Future;
use std::pin::Pin;

use anyhow::Context;
use basalt_engine::{EmailMessage, Mailer};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub(crate) struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").field("from", &self.from.to_string()).finish()
    }
}

impl SmtpMailer {
    pub(crate) fn from_url(url: &str, from: &str) -> anyhow::Result<SmtpMailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .with_context(|| "--smtp-url: not an SMTP URL (e.g. smtp://user:pass@host:587?tls=required)")?
            .build();
        let from: Mailbox = from.parse().with_context(|| format!("--smtp-from: not an address: {from}"))?;
        Ok(SmtpMailer { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, message: EmailMessage) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let to: Mailbox = message.to.parse().map_err(|error| format!("bad recipient {}: {error}", message.to))?;
            let email = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(message.subject)
                .body(message.text)
                .map_err(|error| error.to_string())?;
            self.transport.send(email).await.map(|_| ()).map_err(|error| error.to_string())
        })
    }
}

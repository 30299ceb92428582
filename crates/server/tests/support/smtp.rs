//! A real SMTP server for tests (`mailin-embedded`), in a thread of its own, keeping what
//! it receives.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::{response, Handler, Response, Server as SmtpServer, SslConfig};

/// One received message: its recipients and its text.
pub type Received = (Vec<String>, String);

/// What the test's mail server received: each message's recipients and raw text.
#[derive(Clone, Default)]
pub struct Inbox {
    messages: Arc<Mutex<Vec<Received>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Inbox {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        // Bodies with long lines (the link) arrive quoted-printable; keep the decoded text.
        let decoded = quoted_printable::decode(&self.data, quoted_printable::ParseMode::Robust)
            .unwrap_or_else(|_| self.data.clone());
        let text = String::from_utf8_lossy(&decoded).into_owned();
        self.messages
            .lock()
            .unwrap()
            .push((std::mem::take(&mut self.to), text));
        response::OK
    }
}

impl Inbox {
    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts an SMTP server on `port` in a thread of its own; it serves until the test
/// process ends.
pub fn smtp_server(port: u16) -> Inbox {
    let inbox = Inbox::default();
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP port");
    let mut server = SmtpServer::new(inbox.clone());
    server
        .with_name("mail.test")
        .with_ssl(SslConfig::None)
        .expect("no TLS")
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    inbox
}

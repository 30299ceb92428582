//! A fault-injecting TCP proxy between Roster and its PostgreSQL: the network between a
//! server and its store, with faults a test turns on and off (a cut, a delay on every
//! packet, a stall), instead of stopping the machine's database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes every byte at once.
    None,
    /// Resets every open connection and every new one at once, as a lost network or a
    /// stopped database does.
    Cut,
    /// Holds every byte until the fault changes: a frozen network or peer.
    Stall,
    /// Delays every chunk of bytes by this long, each way.
    Delay(Duration),
}

/// The proxy; it stops when dropped.
pub struct FaultProxy {
    /// Where to connect instead of the database.
    pub addr: SocketAddr,
    fault: Arc<watch::Sender<Fault>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (host:port), passing traffic.
    pub async fn start(upstream: String) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (fault, _) = watch::channel(Fault::None);
        let fault = Arc::new(fault);
        let watched = fault.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mut faults = watched.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if *faults.borrow_and_update() == Fault::Cut {
                        return;
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    relay(client, server, faults).await;
                });
            }
        });
        FaultProxy { addr, fault, task }
    }

    /// A PostgreSQL URL that reaches the database of `url` through the proxy.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme_and_user, rest) = url.split_once('@').unwrap();
        let (_, path) = rest.split_once('/').unwrap();
        format!("{scheme_and_user}@{}/{path}", self.addr)
    }

    /// The upstream `host:port` of a PostgreSQL URL.
    pub fn upstream_of(url: &str) -> String {
        let (_, rest) = url.split_once('@').unwrap();
        rest.split_once('/').unwrap().0.to_owned()
    }

    /// Turns a fault on (or, with [`Fault::None`], off).
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

/// Copies both ways until either side closes or the fault is a cut.
async fn relay(client: TcpStream, server: TcpStream, faults: watch::Receiver<Fault>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, faults.clone());
    let down = pump(server_read, client_write, faults);
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut faults: watch::Receiver<Fault>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            changed = faults.changed() => {
                if changed.is_err() || *faults.borrow() == Fault::Cut {
                    return;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        loop {
            let fault = *faults.borrow_and_update();
            match fault {
                Fault::None => break,
                Fault::Cut => return,
                Fault::Delay(by) => {
                    tokio::time::sleep(by).await;
                    break;
                }
                Fault::Stall => {
                    if faults.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        let Some(chunk) = buffer.get(..n) else {
            return;
        };
        if to.write_all(chunk).await.is_err() {
            return;
        }
    }
}

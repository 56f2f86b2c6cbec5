//! Test guest: a price source whose `init` reaches for what the WASI
//! context must not give any plugin, in any language: the host's
//! environment, its files and the network (a TCP connection to config
//! `port` on 127.0.0.1, a name lookup). `init` fails naming whatever it
//! reached, so a load proves the sandbox held.

use std::net::{TcpStream, ToSocketAddrs};

use gateway_sdk::{PluginInfo, PriceSource, SourceInfo, Tick, config};

/// Probes in `init`, then serves nothing.
pub struct Prober;

fn leaks() -> Result<Vec<String>, String> {
    let port: u16 = config::get_or("port", 9)?;
    let mut leaked = Vec::new();
    let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    if !vars.is_empty() {
        leaked.push(format!("environment variables {vars:?}"));
    }
    if std::env::args().next().is_some() {
        leaked.push("arguments".into());
    }
    // (The working directory reads as `/`: wasi-libc's own default, with no
    // preopened directory behind it, as the probes below show.)
    for path in ["/", ".", "/etc/passwd", "/proc/self/environ"] {
        if std::fs::metadata(path).is_ok() {
            leaked.push(format!("the file {path}"));
        }
    }
    if TcpStream::connect(("127.0.0.1", port)).is_ok() {
        leaked.push(format!("a TCP connection to 127.0.0.1:{port}"));
    }
    if ("localhost", port)
        .to_socket_addrs()
        .is_ok_and(|mut a| a.next().is_some())
    {
        leaked.push("a name lookup".into());
    }
    Ok(leaked)
}

impl PriceSource for Prober {
    fn describe() -> SourceInfo {
        SourceInfo {
            plugin: PluginInfo::new("wasi-prober", "0.1.0", "probes the WASI sandbox"),
            symbols: vec!["PROBE".into()],
            interval_ms: 1000,
        }
    }

    fn init() -> Result<Self, String> {
        let leaked = leaks()?;
        if leaked.is_empty() {
            Ok(Prober)
        } else {
            Err(format!("the sandbox leaked: {}", leaked.join(", ")))
        }
    }

    fn poll(&mut self) -> Result<Vec<Tick>, String> {
        Ok(Vec::new())
    }
}

gateway_sdk::export_price_source!(Prober);

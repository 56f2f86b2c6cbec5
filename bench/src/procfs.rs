//! Readings from `/proc`: CPU time of a process (utime + stime, all its
//! threads), its resident memory, the whole machine's busy time, and the
//! machine description the report starts with.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

/// Clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`, usually 100).
pub(crate) fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// CPU seconds (user + system) used so far by process `pid`, or by this
/// process when `None`.
pub(crate) fn cpu_secs(pid: Option<u32>, ticks: u64) -> Result<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".into(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("field {n} of {path}"))
    };
    Ok((field(14)? + field(15)?) as f64 / ticks as f64)
}

/// Resident set size of the processes `pids` together, in KiB.
pub(crate) fn rss_kib(pids: &[u32]) -> Result<u64> {
    pids.iter().map(|&pid| rss_kib_of(pid)).sum()
}

/// Resident set size of process `pid` in KiB (`VmRSS`).
fn rss_kib_of(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))
}

/// The machine-wide count of connections the kernel dropped because a
/// listen queue was full (`TcpExt: ListenOverflows` in `/proc/net/netstat`);
/// each such client retries its SYN only after a second.
pub(crate) fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut tcp_ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (tcp_ext.next(), tcp_ext.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Busy and total jiffies of all CPUs together (`/proc/stat`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MachineCpu {
    busy: u64,
    total: u64,
}

/// The first line of `/proc/stat`.
pub(crate) fn machine_cpu() -> MachineCpu {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    MachineCpu {
        busy: total.saturating_sub(idle),
        total,
    }
}

/// CPU readings at one instant: the server, this process, the machine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSample {
    at: Instant,
    server: f64,
    loadgen: f64,
    machine: MachineCpu,
}

/// CPU used between two [`CpuSample`]s.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct CpuUse {
    /// Wall-clock seconds between the samples.
    pub(crate) wall_secs: f64,
    /// CPU seconds of the server's processes.
    pub(crate) server_secs: f64,
    /// CPU seconds of the load generator.
    pub(crate) loadgen_secs: f64,
    /// Server CPU in cores (1.0 = one core busy all the time).
    pub(crate) server_cores: f64,
    /// Load generator CPU in cores.
    pub(crate) loadgen_cores: f64,
    /// Share of the whole machine's CPU time that was busy (all processes).
    pub(crate) machine_busy: f64,
    /// Cores busy with anything other than the server and the load
    /// generator (other processes on the machine, the kernel's softirqs).
    pub(crate) other_cores: f64,
}

impl CpuSample {
    /// Reads the server's processes `pids`, this process and the machine now.
    pub(crate) fn take(pids: &[u32], ticks: u64) -> Result<Self> {
        let mut server = 0.0;
        for &pid in pids {
            server += cpu_secs(Some(pid), ticks)?;
        }
        Ok(Self {
            at: Instant::now(),
            server,
            loadgen: cpu_secs(None, ticks)?,
            machine: machine_cpu(),
        })
    }

    /// What was used from `self` to `later`, on a machine of `cores`.
    pub(crate) fn until(&self, later: &CpuSample, cores: usize) -> CpuUse {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let server = later.server - self.server;
        let loadgen = later.loadgen - self.loadgen;
        let total = later
            .machine
            .total
            .saturating_sub(self.machine.total)
            .max(1) as f64;
        let busy = later.machine.busy.saturating_sub(self.machine.busy) as f64;
        let machine_busy = busy / total;
        CpuUse {
            wall_secs: wall,
            server_secs: server,
            loadgen_secs: loadgen,
            server_cores: server / wall,
            loadgen_cores: loadgen / wall,
            machine_busy,
            other_cores: (machine_busy * cores as f64 - (server + loadgen) / wall).max(0.0),
        }
    }
}

/// The machine the run happened on.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    /// Cores available to this process.
    pub(crate) nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub(crate) cpu_model: String,
    /// `MemTotal` in MiB.
    pub(crate) memory_mib: u64,
    /// Kernel release.
    pub(crate) kernel: String,
    /// Clock ticks per second used for CPU times.
    pub(crate) clk_tck: u64,
    /// Soft limit on open files after raising it.
    pub(crate) open_files_limit: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(path)).unwrap_or_default()
}

impl Machine {
    /// Describes this machine.
    pub(crate) fn describe(clk_tck: u64, open_files_limit: u64) -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory_mib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024);
        Self {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            memory_mib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            clk_tck,
            open_files_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let ticks = clock_ticks();
        assert!(ticks > 0);
        assert!(cpu_secs(None, ticks).unwrap() >= 0.0);
        assert!(rss_kib(&[std::process::id()]).unwrap() > 0);
        assert!(machine_cpu().total > 0);
        let _ = listen_overflows();
    }
}

//! `sidetop check`: what the config would start, as a table.

use crate::config::Config;
use std::fmt::Write;

pub fn listing(config: &Config) -> String {
    let mut out = format!("{}: {} sidecars\n", config.path.display(), config.sidecars.len());
    let rows: Vec<[String; 4]> = config
        .sidecars
        .iter()
        .map(|s| {
            let mut policy = s.restart.to_string();
            if !s.autostart {
                policy.push_str(", manual start");
            }
            let deps = if s.depends_on.is_empty() { "-".to_string() } else { s.depends_on.join(",") };
            [s.name.clone(), policy, deps, s.command_line()]
        })
        .collect();
    let header = ["NAME", "RESTART", "DEPENDS ON", "COMMAND"];
    let widths: Vec<usize> =
        (0..3).map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    let env_lines: Vec<String> = config
        .sidecars
        .iter()
        .filter(|s| !s.env.is_empty())
        .map(|s| format!("  {} env: {}", s.name, s.shown_env().join(" ")))
        .collect();
    for row in std::iter::once(header.map(String::from)).chain(rows) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    let proxies = config.sidecars.iter().filter_map(|s| {
        let listen = s.ipc.as_ref()?.listen.as_ref()?;
        Some(format!(
            "  {} listens at {} for the application, forwarding to the sidecar at {} ({})",
            s.name,
            listen.addr,
            listen.upstream,
            listen.kind.as_str()
        ))
    });
    for line in env_lines.into_iter().chain(proxies) {
        let _ = writeln!(out, "{line}");
    }
    for w in &config.warnings {
        let _ = writeln!(out, "warning: {}:{}: {}", w.file.display(), w.line, w.message);
    }
    out
}

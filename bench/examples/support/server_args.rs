//! The command line of the benchmark's example servers: `[PORT] [--duration-secs N]`.

use std::time::Duration;

/// The port (8080 if none) and how long to serve (`None`: until killed); on a
/// bad argument, says why and how to call `program`, and exits with status 2.
pub fn parse(program: &str) -> (u16, Option<Duration>) {
    parse_from(std::env::args().skip(1)).unwrap_or_else(|e| {
        eprintln!("{e}\nusage: {program} [PORT] [--duration-secs N]");
        std::process::exit(2)
    })
}

fn parse_from(mut it: impl Iterator<Item = String>) -> Result<(u16, Option<Duration>), String> {
    let (mut port, mut duration) = (8080, None);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--duration-secs" => {
                let v = it.next().ok_or("--duration-secs needs a value")?;
                let secs: f64 = v.parse().map_err(|e| format!("bad duration {v:?}: {e}"))?;
                duration = Some(Duration::from_secs_f64(secs));
            }
            p => port = p.parse().map_err(|e| format!("bad port {p:?}: {e}"))?,
        }
    }
    Ok((port, duration))
}

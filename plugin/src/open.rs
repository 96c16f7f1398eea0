//! `open [NAME]`: the web UI's address — an Analysis' page (`/ui/analyses/{uid}`: the gateway's
//! analysis id is the Analysis' uid) or the start page (`/ui/`) — printed, optionally opened in
//! the desktop's browser, optionally reached through a `kubectl port-forward` run for the user.
//!
//! The URL is the only thing printed on stdout (scripts can take it); what is happening goes to
//! stderr. Pure parts (URLs, the port-forward's arguments and its "Forwarding from" line) are
//! unit-tested; the processes are tested with stand-ins on `PATH` in `tests/open.rs`.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context as _, anyhow, bail};

use crate::config::GatewayService;

/// The web UI's page: an analysis' (by its id, the Analysis' uid), or the start page.
pub fn ui_url(base: &str, analysis: Option<&str>) -> String {
    let base = base.trim_end_matches('/');
    match analysis {
        Some(id) => format!("{base}/ui/analyses/{id}"),
        None => format!("{base}/ui/"),
    }
}

/// The desktop's opener of a URL: `open` on macOS, `xdg-open` elsewhere.
pub fn opener() -> &'static str {
    if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    }
}

/// Asks the desktop to open `url` and says on stderr whether it could.
pub fn open_in_browser(url: &str) -> bool {
    let opener = opener();
    let status = Command::new(opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => {
            eprintln!("Opened it in your browser ({opener}).");
            true
        }
        Ok(status) => {
            eprintln!(
                "Could not open a browser: {opener} {url} ended with {status}; open the URL yourself."
            );
            false
        }
        Err(err) => {
            eprintln!(
                "Could not open a browser: cannot run {opener} ({err}); open the URL yourself."
            );
            false
        }
    }
}

/// The local base URL in one of `kubectl port-forward`'s lines, `Forwarding from
/// 127.0.0.1:8080 -> 8080` (or `[::1]:8080`).
pub fn forwarded_base(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("Forwarding from ")?;
    let (local, _) = rest.split_once(" -> ")?;
    let (host, port) = local.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    Some(format!("http://{local}"))
}

/// A running `kubectl port-forward` to the gateway and the local base URL it serves.
#[derive(Debug)]
pub struct Forward {
    child: std::process::Child,
    rest: std::io::Lines<BufReader<std::process::ChildStdout>>,
    pub base: String,
}

/// Starts `kubectl port-forward` to the gateway's Service (the environment, so `KUBECONFIG`,
/// is the plugin's) and waits for its "Forwarding from" line. kubectl's errors go straight to
/// the user's stderr.
pub fn start_forward(service: &GatewayService, local_port: u16) -> anyhow::Result<Forward> {
    let args = service.port_forward_args(local_port);
    let mut child = Command::new("kubectl")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| {
            anyhow!(
                "cannot run kubectl ({err}): is it on PATH? Or forward the gateway yourself: {}",
                service.port_forward_command(local_port)
            )
        })?;
    let stdout = child
        .stdout
        .take()
        .context("kubectl port-forward has no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.context("cannot read kubectl port-forward's output")?;
        if let Some(base) = forwarded_base(&line) {
            return Ok(Forward {
                child,
                rest: lines,
                base,
            });
        }
        eprintln!("{line}");
    }
    let status = child.wait().context("waiting for kubectl port-forward")?;
    bail!(
        "kubectl {} ended ({status}) before forwarding: its error is above (is the gateway's Service \
         {}/{} there? --gateway-namespace and --gateway-service name another)",
        args.join(" "),
        service.namespace,
        service.name
    )
}

impl Forward {
    /// Stays until kubectl ends (Ctrl-C ends both), reading past its "Handling connection"
    /// lines; returns how it ended.
    pub fn wait(mut self) -> anyhow::Result<ExitStatus> {
        for line in self.rest.by_ref() {
            if line.is_err() {
                break;
            }
        }
        self.child
            .wait()
            .context("waiting for kubectl port-forward")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_under_the_gateways_ui() {
        assert_eq!(
            ui_url("http://127.0.0.1:8080", None),
            "http://127.0.0.1:8080/ui/"
        );
        assert_eq!(
            ui_url(
                "https://gitview.example.com/",
                Some("5f0c6f0e-1b2a-4c3d-9e8f-0a1b2c3d4e5f")
            ),
            "https://gitview.example.com/ui/analyses/5f0c6f0e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
        );
    }

    #[test]
    fn kubectls_forwarding_line_gives_the_local_url() {
        assert_eq!(
            forwarded_base("Forwarding from 127.0.0.1:8080 -> 8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            forwarded_base("Forwarding from [::1]:41234 -> 8080\n").as_deref(),
            Some("http://[::1]:41234")
        );
        for other in [
            "Handling connection for 8080",
            "Forwarding from 127.0.0.1 -> 8080",
            "Forwarding from :8080 -> 8080",
            "error: unable to listen on any of the requested ports",
        ] {
            assert_eq!(forwarded_base(other), None, "{other}");
        }
    }
}

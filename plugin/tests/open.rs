//! `kubectl gitview open` as a user runs it, without a cluster: the start page's URL from the
//! config file, the error that says how to reach the gateway, and `--port-forward` and
//! `--browser` against stand-ins for `kubectl` and `xdg-open` placed alone on `PATH` (shell
//! scripts that print what the real ones print and note their arguments). An Analysis' page
//! (`open NAME`) needs the cluster for its uid: the e2e suite's part.
#![cfg(unix)]
#![expect(
    clippy::unwrap_used,
    reason = "test code: an unwrap that fails is a failed test, with its message"
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

/// A directory holding the config file and the stand-ins, the only one on `PATH`.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A stand-in for `name`: notes its arguments in `<name>.args`, then runs `body`.
    fn script(&self, name: &str, body: &str) {
        let path = self.path().join(name);
        let args = self.path().join(format!("{name}.args"));
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n{body}\n",
                args.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn args_of(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.path().join(format!("{name}.args"))).ok()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kubectl-gitview"))
            .args(args)
            .env_clear()
            .env("PATH", self.path())
            .env("HOME", self.path())
            .env("GITVIEW_CONFIG", self.path().join("config.yaml"))
            // No cluster: any attempt to reach one fails.
            .env("KUBECONFIG", self.path().join("no-kubeconfig"))
            .output()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn open_prints_the_start_page_from_the_config_without_a_cluster() {
    let desk = Desk::new("gatewayUrl: https://gitview.example.com/\n");
    let out = desk.run(&["open"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "https://gitview.example.com/ui/\n");
    // The flag wins over the file.
    let out = desk.run(&["open", "--gateway-url", "http://127.0.0.1:9090"]);
    assert_eq!(text(&out.stdout), "http://127.0.0.1:9090/ui/\n");
}

#[test]
fn without_a_gateway_url_open_says_how_to_forward_it() {
    let desk = Desk::new("");
    let out = desk.run(&["open"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("kubectl port-forward -n gitview-system svc/gitview-gateway 8080:8080"),
        "{err}"
    );
    assert!(err.contains("--gateway-url http://127.0.0.1:8080"), "{err}");
    let out = desk.run(&[
        "open",
        "--gateway-namespace",
        "tools",
        "--gateway-service",
        "gv-gitview-gateway",
    ]);
    let err = text(&out.stderr);
    assert!(
        err.contains("kubectl port-forward -n tools svc/gv-gitview-gateway 8080:8080"),
        "{err}"
    );
}

#[test]
fn browser_opens_the_url_or_says_it_could_not() {
    let desk = Desk::new("gatewayUrl: http://127.0.0.1:8080\n");
    let opener = gitview_kubectl::open::opener();
    // No opener on PATH: the URL is printed, the failure said, the exit code 1.
    let out = desk.run(&["open", "--browser"]);
    assert_eq!(text(&out.stdout), "http://127.0.0.1:8080/ui/\n");
    assert!(
        text(&out.stderr).contains(&format!("Could not open a browser: cannot run {opener}")),
        "{}",
        text(&out.stderr)
    );
    assert!(!out.status.success());
    desk.script(opener, "exit 0");
    let out = desk.run(&["open", "--browser"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Opened it in your browser"));
    assert_eq!(
        desk.args_of(opener).as_deref(),
        Some("http://127.0.0.1:8080/ui/\n")
    );
}

#[test]
fn port_forward_runs_kubectl_and_prints_the_local_url() {
    // No gateway URL configured: --port-forward needs none.
    let desk = Desk::new("");
    desk.script(
        "kubectl",
        "echo 'Forwarding from 127.0.0.1:8080 -> 8080'\n\
         echo 'Forwarding from [::1]:8080 -> 8080'\n\
         echo 'Handling connection for 8080'\n\
         exit 0",
    );
    desk.script(gitview_kubectl::open::opener(), "exit 0");
    let out = desk.run(&[
        "open",
        "--port-forward",
        "--browser",
        "--gateway-namespace",
        "tools",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "http://127.0.0.1:8080/ui/\n");
    assert_eq!(
        desk.args_of("kubectl").as_deref(),
        Some("port-forward\n-n\ntools\nsvc/gitview-gateway\n8080:8080\n")
    );
    assert_eq!(
        desk.args_of(gitview_kubectl::open::opener()).as_deref(),
        Some("http://127.0.0.1:8080/ui/\n"),
        "the browser opens the forwarded URL"
    );
    let err = text(&out.stderr);
    assert!(err.contains("until Ctrl-C"), "{err}");
    assert!(err.contains("kubectl port-forward ended"), "{err}");
}

#[test]
fn port_forward_shows_kubectls_error() {
    let desk = Desk::new("");
    desk.script(
        "kubectl",
        "echo 'error: services \"gitview-gateway\" not found' >&2\nexit 1",
    );
    let out = desk.run(&["open", "--port-forward", "--local-port", "0"]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("error: services \"gitview-gateway\" not found"),
        "{err}"
    );
    assert!(err.contains("before forwarding"), "{err}");
    assert_eq!(
        desk.args_of("kubectl").as_deref(),
        Some("port-forward\n-n\ngitview-system\nsvc/gitview-gateway\n:8080\n")
    );
    // And a kubectl that ends after forwarding: its failure is the command's.
    desk.script(
        "kubectl",
        "echo 'Forwarding from 127.0.0.1:8080 -> 8080'\n\
         echo 'error: lost connection to pod' >&2\nexit 1",
    );
    let out = desk.run(&["open", "--port-forward"]);
    assert!(!out.status.success());
    assert_eq!(text(&out.stdout), "http://127.0.0.1:8080/ui/\n");
    let err = text(&out.stderr);
    assert!(err.contains("lost connection to pod"), "{err}");
    assert!(err.contains("kubectl port-forward ended"), "{err}");
}

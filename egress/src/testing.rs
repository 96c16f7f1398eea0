//! A network of a test's own, for proving the policy (feature `testing`): the test re-runs
//! itself in new network and mount namespaces (`unshare --net --mount`, as root) whose
//! loopback also carries a refused IPv4 and a refused IPv6 address, with listeners on them
//! that record every connection that arrives, and an `/etc/hosts` of the test's choosing (so
//! host names resolve to refused addresses through the C library's real resolver). Nothing
//! of the machine's own network or files is touched.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, PoisonError};

/// The refused IPv4 address the namespace's loopback carries (the cloud metadata address).
pub const REFUSED_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The refused IPv6 address it carries (AWS's IPv6 metadata address).
pub const REFUSED_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);
/// Set in the re-run process: it is inside the namespaces.
pub const INSIDE: &str = "GITVIEW_TEST_NETNS";

/// Whether this process runs inside the test's namespaces.
pub fn is_inside() -> bool {
    std::env::var_os(INSIDE).is_some_and(|v| v == "1")
}

/// Why the namespaces cannot be made here (not root, no `unshare` or `ip`), if so.
pub fn unavailable() -> Option<String> {
    // The effective uid, without libc: /proc tells.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0");
    if !root {
        return Some("not root: network namespaces need CAP_SYS_ADMIN".into());
    }
    for tool in ["unshare", "ip", "mount"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} is not installed (util-linux, iproute2)"));
        }
    }
    None
}

/// The current executable again with `args`, inside new network and mount namespaces.
pub fn inside_command<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::io::Result<Command> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new("unshare");
    command
        .args(["--net", "--mount", "--fork", "--"])
        .arg(exe)
        .args(args)
        .env(INSIDE, "1");
    Ok(command)
}

/// Runs the current executable again with `args`, inside new network and mount namespaces,
/// and returns its output.
pub fn rerun_inside(args: &[&str]) -> std::io::Result<Output> {
    inside_command(args)?.output()
}

/// Inside the namespaces: brings loopback up with the refused addresses on it, and replaces
/// `/etc/hosts` (in this mount namespace only) with `localhost` and `hosts`. `scratch` holds
/// the new file. With `default_route`, a dummy interface carries a default route (programs
/// that look for the host's address, like kube-apiserver, need one); nothing is reachable
/// through it.
pub fn set_up(
    scratch: &Path,
    hosts: &[(&str, IpAddr)],
    default_route: bool,
) -> std::io::Result<()> {
    let mut commands = vec![
        "ip link set lo up".to_owned(),
        format!("ip addr add {REFUSED_V4}/32 dev lo"),
        format!("ip -6 addr add {REFUSED_V6}/128 dev lo"),
    ];
    if default_route {
        // A veth pair with both ends in the namespace (kernels without the dummy driver
        // have veth): the default route leads into it and nowhere else.
        commands.extend([
            "ip link add gitview0 type veth peer name gitview1".to_owned(),
            "ip addr add 192.0.2.1/24 dev gitview0".to_owned(),
            "ip link set gitview0 up".to_owned(),
            "ip link set gitview1 up".to_owned(),
            "ip route add default via 192.0.2.254 dev gitview0".to_owned(),
        ]);
    }
    for command in &commands {
        run("sh", &["-c", command])?;
    }
    let path = scratch.join("hosts");
    let mut file = std::fs::File::create(&path)?;
    writeln!(file, "127.0.0.1 localhost\n::1 localhost ip6-localhost")?;
    // The machine's own name, which some programs look up.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    if !hostname.trim().is_empty() {
        writeln!(file, "127.0.1.1 {}", hostname.trim())?;
    }
    for (name, ip) in hosts {
        writeln!(file, "{ip} {name}")?;
    }
    drop(file);
    // No name server is reachable from here: one on loopback refuses at once, where the
    // machine's own would time out behind the dummy default route.
    let resolv = scratch.join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n",
    )?;
    run("mount", &["--bind", &path.to_string_lossy(), "/etc/hosts"])?;
    run(
        "mount",
        &["--bind", &resolv.to_string_lossy(), "/etc/resolv.conf"],
    )
}

fn run(program: &str, args: &[&str]) -> std::io::Result<()> {
    let output = Command::new(program).args(args).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Every connection that reached a listener on a refused address.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    hits: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Recorder {
    /// Listens on both refused addresses at each of `ports`, recording (and closing) every
    /// connection.
    pub fn listen(ports: &[u16]) -> std::io::Result<Self> {
        let recorder = Self::default();
        for port in ports {
            for ip in [IpAddr::V4(REFUSED_V4), IpAddr::V6(REFUSED_V6)] {
                let address = SocketAddr::new(ip, *port);
                let listener = TcpListener::bind(address)?;
                let hits = recorder.hits.clone();
                std::thread::spawn(move || {
                    for stream in listener.incoming().flatten() {
                        hits.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(address);
                        drop(stream);
                    }
                });
            }
        }
        Ok(recorder)
    }

    /// The listener addresses connections arrived at, in order.
    pub fn hits(&self) -> Vec<SocketAddr> {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// An HTTP server on 127.0.0.1 that answers every request with a redirect to `target` + the
/// request's path, as a git host that moved a repository does; returns its port.
pub fn redirector(target: &'static str) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(read) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(read);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 0) && header != "\r\n" {
                header.clear();
            }
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    Ok(port)
}

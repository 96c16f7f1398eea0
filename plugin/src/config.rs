//! Where the gateway is and the API key to read it with: a flag, else an environment variable
//! (`GITVIEW_GATEWAY_URL`, `GITVIEW_API_KEY`), else the config file (`$GITVIEW_CONFIG`, or
//! `$XDG_CONFIG_HOME/gitview/config.yaml`, or `~/.config/gitview/config.yaml`):
//!
//! ```yaml
//! gatewayUrl: http://127.0.0.1:8080
//! apiKey: gvk_…
//! ```
//!
//! The key is never printed; an error about it names where it came from.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// The config file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    pub gateway_url: Option<String>,
    pub api_key: Option<String>,
}

/// The gateway to read, and how.
#[derive(Clone)]
pub struct GatewayAccess {
    pub url: String,
    pub api_key: String,
}

impl std::fmt::Debug for GatewayAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayAccess")
            .field("url", &self.url)
            .field("api_key", &"***")
            .finish()
    }
}

/// Which kubeconfig and which of its contexts to use (`--kubeconfig`, `--context`), as kubectl
/// takes them; neither: `$KUBECONFIG` (or `~/.kube/config`) and its current context, or the
/// pod's service account inside a cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeTarget {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
}

impl KubeTarget {
    /// The same choice as `kubectl`'s arguments, for the commands the plugin runs.
    pub fn kubectl_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(path) = &self.kubeconfig {
            args.extend(["--kubeconfig".to_owned(), path.clone()]);
        }
        if let Some(context) = &self.context {
            args.extend(["--context".to_owned(), context.clone()]);
        }
        args
    }
}

/// The gateway's Service in the cluster, for reaching it from outside with
/// `kubectl port-forward`. The defaults are the chart's as its README installs it (release
/// `gitview` in `gitview-system`: Service `gitview-gateway`, port [`GATEWAY_SERVICE_PORT`]);
/// `--gateway-namespace` and `--gateway-service` name another release's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayService {
    pub namespace: String,
    pub name: String,
    /// The cluster it is in.
    pub kube: KubeTarget,
}

/// The gateway Service's port (the chart's `gateway.port`).
pub const GATEWAY_SERVICE_PORT: u16 = 8080;
/// The gateway Service's namespace and name as the chart's README installs it.
pub const DEFAULT_GATEWAY_NAMESPACE: &str = "gitview-system";
pub const DEFAULT_GATEWAY_SERVICE: &str = "gitview-gateway";

impl Default for GatewayService {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_GATEWAY_NAMESPACE.to_owned(),
            name: DEFAULT_GATEWAY_SERVICE.to_owned(),
            kube: KubeTarget::default(),
        }
    }
}

impl GatewayService {
    /// `kubectl`'s arguments forwarding `local_port` (0: one kubectl picks) to the Service.
    pub fn port_forward_args(&self, local_port: u16) -> Vec<String> {
        let local = if local_port == 0 {
            String::new()
        } else {
            local_port.to_string()
        };
        let mut args = self.kube.kubectl_args();
        args.extend([
            "port-forward".to_owned(),
            "-n".to_owned(),
            self.namespace.clone(),
            format!("svc/{}", self.name),
            format!("{local}:{GATEWAY_SERVICE_PORT}"),
        ]);
        args
    }

    /// The command line a user runs to forward the gateway.
    pub fn port_forward_command(&self, local_port: u16) -> String {
        format!("kubectl {}", self.port_forward_args(local_port).join(" "))
    }
}

/// The config file's path: `$GITVIEW_CONFIG`, else under `$XDG_CONFIG_HOME` or `~/.config`.
pub fn config_path(
    explicit: Option<&str>,
    xdg: Option<&str>,
    home: Option<&str>,
) -> Option<PathBuf> {
    if let Some(path) = explicit.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let base = match xdg.filter(|p| !p.is_empty()) {
        Some(xdg) => PathBuf::from(xdg),
        None => PathBuf::from(home.filter(|p| !p.is_empty())?).join(".config"),
    };
    Some(base.join("gitview").join("config.yaml"))
}

/// Reads the config file; a missing one is empty.
pub fn read_config(path: &Path) -> anyhow::Result<ConfigFile> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(ConfigFile::default()),
        Ok(text) => serde_yaml::from_str(&text).with_context(|| {
            format!(
                "{} is not a gitview config (gatewayUrl, apiKey)",
                path.display()
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The gateway's URL from the flag (which clap fills from the environment too) over the
/// file's; without one, the error says how to forward the gateway's `service` and pass it.
pub fn resolve_url(
    url: Option<String>,
    file: &ConfigFile,
    file_path: Option<&Path>,
    service: &GatewayService,
) -> anyhow::Result<String> {
    let Some(url) = url
        .or_else(|| file.gateway_url.clone())
        .filter(|u| !u.trim().is_empty())
    else {
        bail!(
            "no gateway URL: pass --gateway-url, set GITVIEW_GATEWAY_URL or write gatewayUrl in {}. \
             From outside the cluster, forward the gateway first: {} (leave it running), then pass \
             --gateway-url http://127.0.0.1:{port}; for the web UI, `kubectl gitview open --port-forward` \
             does both",
            where_(file_path),
            service.port_forward_command(GATEWAY_SERVICE_PORT),
            port = GATEWAY_SERVICE_PORT,
        );
    };
    let url = url.trim().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("the gateway URL {url:?} is not http:// or https://");
    }
    Ok(url)
}

fn where_(file_path: Option<&Path>) -> String {
    file_path.map_or_else(
        || "~/.config/gitview/config.yaml".to_owned(),
        |p| p.display().to_string(),
    )
}

/// The gateway access from flags (which clap fills from the environment too) over the file.
pub fn resolve(
    url: Option<String>,
    api_key: Option<String>,
    file: ConfigFile,
    file_path: Option<&Path>,
    service: &GatewayService,
) -> anyhow::Result<GatewayAccess> {
    let url = resolve_url(url, &file, file_path, service)?;
    let Some(api_key) = api_key.or(file.api_key).filter(|k| !k.trim().is_empty()) else {
        bail!(
            "no API key for the gateway: pass --api-key, set GITVIEW_API_KEY or write apiKey in {} \
             (an administrator mints one: POST /v1/admin/accounts/<account>/keys)",
            where_(file_path)
        );
    };
    Ok(GatewayAccess {
        url,
        api_key: api_key.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_fills_in() {
        let file = ConfigFile {
            gateway_url: Some("http://file:1/".into()),
            api_key: Some("gvk_file".into()),
        };
        let access = resolve(
            Some("https://flag".into()),
            None,
            file,
            None,
            &GatewayService::default(),
        )
        .unwrap();
        assert_eq!(access.url, "https://flag");
        assert_eq!(access.api_key, "gvk_file");
        let file = ConfigFile {
            gateway_url: Some("http://file:1/".into()),
            api_key: Some("gvk_secret".into()),
        };
        let access = resolve(None, None, file, None, &GatewayService::default()).unwrap();
        assert_eq!(access.url, "http://file:1", "trailing slash trimmed");
        assert!(
            !format!("{access:?}").contains("gvk_secret"),
            "the key is never printed"
        );
    }

    #[test]
    fn missing_settings_say_what_to_do() {
        let err = resolve(
            None,
            Some("k".into()),
            ConfigFile::default(),
            None,
            &GatewayService::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--gateway-url"), "{err}");
        assert!(
            err.to_string().contains(
                "kubectl port-forward -n gitview-system svc/gitview-gateway 8080:8080 (leave it running), \
                 then pass --gateway-url http://127.0.0.1:8080"
            ),
            "{err}"
        );
        let service = GatewayService {
            namespace: "tools".into(),
            name: "gv-gitview-gateway".into(),
            kube: KubeTarget::default(),
        };
        let err = resolve_url(None, &ConfigFile::default(), None, &service).unwrap_err();
        assert!(
            err.to_string()
                .contains("kubectl port-forward -n tools svc/gv-gitview-gateway 8080:8080"),
            "{err}"
        );
        assert!(err.to_string().contains("open --port-forward"), "{err}");
        assert_eq!(
            service.port_forward_args(0).last().map(String::as_str),
            Some(":8080"),
            "0: kubectl picks the local port"
        );
        // The cluster the plugin was pointed at is the one kubectl forwards from.
        let elsewhere = GatewayService {
            kube: KubeTarget {
                kubeconfig: Some("/tmp/other config".into()),
                context: Some("prod".into()),
            },
            ..service.clone()
        };
        assert_eq!(
            elsewhere.port_forward_args(9000),
            [
                "--kubeconfig",
                "/tmp/other config",
                "--context",
                "prod",
                "port-forward",
                "-n",
                "tools",
                "svc/gv-gitview-gateway",
                "9000:8080"
            ]
        );
        let err = resolve(
            Some("http://x".into()),
            None,
            ConfigFile::default(),
            None,
            &GatewayService::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("GITVIEW_API_KEY"), "{err}");
        let err = resolve(
            Some("ftp://x".into()),
            Some("k".into()),
            ConfigFile::default(),
            None,
            &GatewayService::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not http"), "{err}");
    }

    #[test]
    fn the_config_file_is_found_and_read() {
        assert_eq!(
            config_path(Some("/c.yaml"), Some("/x"), Some("/h")),
            Some(PathBuf::from("/c.yaml"))
        );
        assert_eq!(
            config_path(None, Some("/x"), Some("/h")),
            Some(PathBuf::from("/x/gitview/config.yaml"))
        );
        assert_eq!(
            config_path(None, None, Some("/h")),
            Some(PathBuf::from("/h/.config/gitview/config.yaml"))
        );
        assert_eq!(config_path(None, None, None), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        assert!(
            read_config(&path).unwrap().api_key.is_none(),
            "missing: empty"
        );
        std::fs::write(&path, "gatewayUrl: http://g\napiKey: gvk_x\n").unwrap();
        let file = read_config(&path).unwrap();
        assert_eq!(file.gateway_url.as_deref(), Some("http://g"));
        std::fs::write(&path, "gateway: http://g\n").unwrap();
        let err = read_config(&path).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a gitview config"),
            "{err:#}"
        );
    }
}

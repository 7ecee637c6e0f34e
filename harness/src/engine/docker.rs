//! Engine API operations (bollard) for what suites declare: networks, containers, and reading back what the
//! engine made (a container's PID for its namespace, a network's subnet).

use super::EngineError;
use crate::suite::{Attachment, Container, Network};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkingConfig,
};
use bollard::query_parameters::CreateContainerOptions;
use bollard::Docker;
use std::collections::HashMap;
use std::path::Path;

/// A client for the engine at `socket`. Engine 20.10 speaks API 1.41 at most: start there (newer engines
/// accept it) so no version negotiation round trip is needed.
pub fn connect(socket: &Path) -> Result<Docker, EngineError> {
    let version = bollard::ClientVersion { major_version: 1, minor_version: 41 };
    Docker::connect_with_unix(&socket.to_string_lossy(), 60, &version)
        .map_err(EngineError::api(format!("connect to {}", socket.display())))
}

/// The machine's engine socket (`DOCKER_HOST` when it is a unix socket, else the default).
pub fn machine_socket() -> std::path::PathBuf {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    std::path::PathBuf::from(host.strip_prefix("unix://").unwrap_or("/var/run/docker.sock"))
}

/// The machine's own engine (`DOCKER_HOST` or the default socket). With the private engine it is used read
/// only, to copy images it already has. `None` when there is none.
pub async fn machine_engine() -> Option<Docker> {
    let docker = connect(&machine_socket()).ok()?;
    docker.ping().await.ok()?;
    Some(docker)
}

/// Whether the engine answers its API within `limit` (a stopping engine closes its API first).
pub async fn answers(docker: &Docker, limit: std::time::Duration) -> bool {
    matches!(tokio::time::timeout(limit, docker.ping()).await, Ok(Ok(_)))
}

/// Whether the engine at `docker` answers; the error says where it did not.
pub async fn ping(docker: &Docker, socket: &Path) -> Result<(), EngineError> {
    docker.ping().await.map(|_| ()).map_err(EngineError::api(format!("reach the lab's engine at {}", socket.display())))
}

/// Whether the engine has a `kind` (`network`, else container) of this name.
pub async fn name_taken(docker: &Docker, kind: &str, name: &str) -> bool {
    match kind {
        "network" => {
            docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await.is_ok()
        }
        _ => docker.inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>).await.is_ok(),
    }
}

/// Whether the engine has the image.
pub async fn image_present(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

/// `docker network create`.
pub async fn create_network(docker: &Docker, n: &Network, labels: &HashMap<String, String>) -> Result<(), EngineError> {
    let ipam = n.subnet.map(|subnet| Ipam {
        config: Some(vec![IpamConfig {
            subnet: Some(subnet.to_string()),
            gateway: n.gateway.map(|g| g.to_string()),
            ip_range: n.ip_range.map(|r| r.to_string()),
            ..Default::default()
        }]),
        ..Default::default()
    });
    let request = NetworkCreateRequest {
        name: n.name.clone(),
        driver: Some(n.driver.clone()),
        ipam,
        options: Some(n.options.clone().into_iter().collect()),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    docker.create_network(request).await.map_err(EngineError::api(format!("create network {}", n.name)))?;
    Ok(())
}

/// `docker create -it` (as `docker run -dit` does, so a shell image keeps running) on the first network.
pub async fn create_container(
    docker: &Docker,
    c: &Container,
    image: &str,
    labels: &HashMap<String, String>,
) -> Result<(), EngineError> {
    let (network_mode, endpoints) = match &c.attachment {
        Attachment::Host => ("host".to_string(), None),
        Attachment::None => ("none".to_string(), None),
        Attachment::Networks(nets) => {
            let first = nets[0].clone();
            (first.clone(), Some(HashMap::from([(first, EndpointSettings::default())])))
        }
    };
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: c.command.clone(),
        tty: Some(true),
        open_stdin: Some(true),
        labels: Some(labels.clone()),
        host_config: Some(HostConfig { network_mode: Some(network_mode), ..Default::default() }),
        networking_config: endpoints.map(|e| NetworkingConfig { endpoints_config: Some(e) }),
        ..Default::default()
    };
    let options = CreateContainerOptions { name: Some(c.name.clone()), ..Default::default() };
    docker
        .create_container(Some(options), body)
        .await
        .map_err(EngineError::api(format!("create container {}", c.name)))?;
    Ok(())
}

/// `docker network connect NETWORK CONTAINER`.
pub async fn connect_network(docker: &Docker, container: &str, network: &str) -> Result<(), EngineError> {
    let request = NetworkConnectRequest { container: container.to_string(), ..Default::default() };
    docker
        .connect_network(network, request)
        .await
        .map_err(EngineError::api(format!("connect {container} to {network}")))
}

/// `docker start`.
pub async fn start(docker: &Docker, container: &str) -> Result<(), EngineError> {
    docker
        .start_container(container, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(EngineError::api(format!("start container {container}")))
}

/// What reachlab reads back from a running container: its first process (its namespaces are
/// /proc/PID/ns/*) and the IPv4 `conf` keys it was created with (`docker run --sysctl
/// net.ipv4.conf.all.KEY=…`, `net.ipv4.ip_forward`): settings chosen on purpose, which reachlab never resets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The first process.
    pub pid: u32,
    /// IPv4 conf keys set with `--sysctl` (`forwarding` for `net.ipv4.ip_forward`).
    pub own_sysctls: Vec<String>,
    /// It shares server1's network stack (`network_mode = host`).
    pub host: bool,
}

/// Reads a running container back (see [`Running`]).
pub async fn running(docker: &Docker, container: &str) -> Result<Running, EngineError> {
    let info = docker
        .inspect_container(container, None::<bollard::query_parameters::InspectContainerOptions>)
        .await
        .map_err(EngineError::api(format!("inspect container {container}")))?;
    let pid = info
        .state
        .and_then(|s| s.pid)
        .filter(|p| *p > 0)
        .map(|p| p as u32)
        .ok_or_else(|| EngineError::Start(format!("container {container} is not running")))?;
    let host_config = info.host_config.unwrap_or_default();
    let host = host_config.network_mode.as_deref() == Some("host");
    let sysctls = host_config.sysctls.unwrap_or_default();
    Ok(Running { pid, own_sysctls: sysctls.keys().filter_map(|k| conf_key(k)).collect(), host })
}

/// The IPv4 `conf` key a sysctl name sets, if it sets one.
fn conf_key(sysctl: &str) -> Option<String> {
    let s = sysctl.replace('/', ".");
    if s == "net.ipv4.ip_forward" {
        return Some("forwarding".into());
    }
    let rest = s.strip_prefix("net.ipv4.conf.")?;
    rest.split_once('.').map(|(_, key)| key.to_string())
}

/// Every network's first IPv4 subnet, as the engine assigned it (one list request: it carries the IPAM
/// configuration, so no network needs inspecting).
pub async fn subnets(docker: &Docker) -> Result<Vec<(String, crate::suite::Cidr)>, EngineError> {
    let networks = docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .map_err(EngineError::api("list networks"))?;
    Ok(networks
        .into_iter()
        .filter_map(|n| {
            let configs = n.ipam.and_then(|i| i.config).unwrap_or_default();
            let subnet = configs.iter().filter_map(|c| c.subnet.as_deref()).find_map(|s| s.parse().ok())?;
            Some((n.name?, subnet))
        })
        .collect())
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// Removes a network, container or image that reachlab made in a shared engine — only if it carries `run_id`'s
/// label. Already gone is success. Synchronous (teardown runs from `Drop` and from `clean`).
pub fn remove_owned(socket: &Path, kind: &str, name: &str, run_id: &str) -> std::io::Result<()> {
    let (socket, kind, name, run_id) = (socket.to_path_buf(), kind.to_string(), name.to_string(), run_id.to_string());
    let work = move || -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let docker = connect(&socket).map_err(std::io::Error::other)?;
            let other = |e: bollard::errors::Error| std::io::Error::other(e.to_string());
            let labels = match kind.as_str() {
                "container" => match docker
                    .inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>)
                    .await
                {
                    Ok(c) => c.config.and_then(|c| c.labels),
                    Err(e) if not_found(&e) => return Ok(()),
                    Err(e) => return Err(other(e)),
                },
                "network" => {
                    match docker.inspect_network(&name, None::<bollard::query_parameters::InspectNetworkOptions>).await
                    {
                        Ok(n) => n.labels,
                        Err(e) if not_found(&e) => return Ok(()),
                        Err(e) => return Err(other(e)),
                    }
                }
                _ => match docker.inspect_image(&name).await {
                    Ok(i) => i.config.and_then(|c| c.labels),
                    Err(e) if not_found(&e) => return Ok(()),
                    Err(e) => return Err(other(e)),
                },
            };
            if labels.as_ref().and_then(|l| l.get("dev.reachlab.run")) != Some(&run_id) {
                return Err(std::io::Error::other(format!(
                    "{kind} {name} does not carry this run's label; left alone"
                )));
            }
            let gone = |r: Result<(), bollard::errors::Error>| match r {
                Err(e) if !not_found(&e) => Err(other(e)),
                _ => Ok(()),
            };
            match kind.as_str() {
                "container" => {
                    let opts = bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() };
                    gone(docker.remove_container(&name, Some(opts)).await)
                }
                "network" => gone(docker.remove_network(&name).await),
                _ => gone(
                    docker
                        .remove_image(&name, None::<bollard::query_parameters::RemoveImageOptions>, None)
                        .await
                        .map(|_| ()),
                ),
            }
        })
    };
    std::thread::spawn(work).join().map_err(|_| std::io::Error::other("teardown thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::conf_key;

    #[test]
    fn sysctl_names_map_to_conf_keys() {
        assert_eq!(conf_key("net.ipv4.ip_forward").as_deref(), Some("forwarding"));
        assert_eq!(conf_key("net/ipv4/conf/all/rp_filter").as_deref(), Some("rp_filter"));
        assert_eq!(conf_key("net.ipv4.conf.eth0.arp_ignore").as_deref(), Some("arp_ignore"));
        assert_eq!(conf_key("net.core.somaxconn"), None);
    }
}

/// A Docker network as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetworkFact {
    /// Its name.
    pub name: String,
    /// Its driver (`bridge`, `macvlan`, `host`, `null` …).
    pub driver: String,
    /// Its first IPv4 subnet.
    pub subnet: Option<crate::suite::Cidr>,
    /// Its `parent` option (macvlan, ipvlan).
    pub parent: Option<String>,
}

/// What the engine says the lab is: its networks, and which networks each running container is on (a
/// host-network container is on `host`).
pub async fn read_back(
    docker: &Docker,
) -> Result<(Vec<NetworkFact>, std::collections::BTreeMap<String, Vec<String>>), EngineError> {
    let networks = docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .map_err(EngineError::api("list networks"))?
        .into_iter()
        .filter_map(|n| {
            let subnet = n
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c.subnet.as_deref())
                .find_map(|s| s.parse().ok());
            Some(NetworkFact {
                name: n.name?,
                driver: n.driver.unwrap_or_default(),
                subnet,
                parent: n.options.and_then(|o| o.get("parent").cloned()),
            })
        })
        .collect();
    let containers = docker
        .list_containers(None::<bollard::query_parameters::ListContainersOptions>)
        .await
        .map_err(EngineError::api("list containers"))?;
    let attached = containers
        .into_iter()
        .filter_map(|c| {
            let name = c.names?.first()?.trim_start_matches('/').to_string();
            let nets = c.network_settings.and_then(|s| s.networks).unwrap_or_default().into_keys().collect();
            Some((name, nets))
        })
        .collect();
    Ok((networks, attached))
}

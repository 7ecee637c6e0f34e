//! What a submission may ask of its lab's engine (pure). The submission's Docker socket is a front
//! ([`super::proxy`]) that asks [`route`] about every request and, for the requests that carry a
//! configuration, [`check_body`] about its JSON; anything not listed here is refused. The lab needs networks
//! (bridge, macvlan, ipvlan), containers on them or on server1's own stack (`--network host`), exec, logs and
//! images; it never needs the machine: no privileged containers, no bind mounts, no host namespaces other than
//! the network (server1's), no added capabilities, devices, cgroup parents or security overrides.
//!
//! dockerd decodes JSON keys case-insensitively (Go's `encoding/json`, which also folds `ſ` to `s` and `K` to
//! `k`), so keys are compared in ASCII lowercase, and a key that is not ASCII, or two keys that differ only in
//! case, are refused outright.

use serde_json::{Map, Value};

/// What the front does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Forward it as it is (the body streams through).
    Allow,
    /// Read its JSON body and ask [`check_body`].
    Inspect(Body),
    /// Refuse it, saying why.
    Deny(String),
}

/// Which configuration a request body carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `POST /containers/create`: a container's config and host config.
    ContainerCreate,
    /// `POST /containers/{id}/start`: must be empty (old clients could pass a host config here).
    ContainerStart,
    /// `POST /containers/{id}/exec`.
    ExecCreate,
    /// `POST /networks/create`.
    NetworkCreate,
    /// `POST /volumes/create`.
    VolumeCreate,
}

fn deny(why: impl Into<String>) -> Route {
    Route::Deny(why.into())
}

/// Decides on a request line. `path` is the URI path, `query` its query string (without `?`).
pub fn route(method: &str, path: &str, query: &str) -> Route {
    // dockerd routes on the decoded, cleaned path: anything that could decode or clean differently is refused.
    if path.contains('%') || path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
        return deny(format!("the request path {path} is not one the lab needs"));
    }
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.first().is_some_and(|s| s.starts_with('v') && s[1..].chars().all(|c| c.is_ascii_digit() || c == '.')) {
        segs.remove(0);
    }
    let unknown = || deny(format!("{method} {path} is not an endpoint the lab needs"));
    let (get, post, delete) = (method == "GET" || method == "HEAD", method == "POST", method == "DELETE");
    match segs.as_slice() {
        ["_ping"] if get => Route::Allow,
        ["version" | "info" | "events"] if get => Route::Allow,
        ["system", "df"] if get => Route::Allow,
        ["containers", "json"] if get => Route::Allow,
        ["containers", "create"] if post => Route::Inspect(Body::ContainerCreate),
        ["containers", "prune"] if post => Route::Allow,
        ["containers", _, "json" | "logs" | "top" | "stats" | "changes" | "export"] if get => Route::Allow,
        ["containers", _, "start"] if post => Route::Inspect(Body::ContainerStart),
        ["containers", _, "exec"] if post => Route::Inspect(Body::ExecCreate),
        ["containers", _, "stop" | "restart" | "kill" | "pause" | "unpause" | "wait" | "attach" | "resize" | "rename"]
            if post =>
        {
            Route::Allow
        }
        ["containers", _, "archive"] => {
            deny("copying files in or out of containers (docker cp) is not needed by the lab and is refused")
        }
        ["containers", _, "update"] => deny("changing a container's resources (docker update) is refused"),
        ["containers", _] if delete => Route::Allow,
        ["exec", _, "json"] if get => Route::Allow,
        ["exec", _, "start" | "resize"] if post => Route::Allow,
        ["networks"] if get => Route::Allow,
        ["networks", "create"] if post => Route::Inspect(Body::NetworkCreate),
        ["networks", "prune"] if post => Route::Allow,
        ["networks", _] if get || delete => Route::Allow,
        ["networks", _, "connect" | "disconnect"] if post => Route::Allow,
        ["volumes"] if get => Route::Allow,
        ["volumes", "create"] if post => Route::Inspect(Body::VolumeCreate),
        ["volumes", _] if get || delete => Route::Allow,
        ["images", "json" | "search" | "get"] if get => Route::Allow,
        ["images", "create"] if post => {
            if query.split('&').any(|kv| kv.starts_with("fromSrc=") && kv != "fromSrc=-") {
                deny("importing an image from a URL is refused (docker import - reads from stdin)")
            } else {
                Route::Allow
            }
        }
        ["images", "load" | "prune"] if post => Route::Allow,
        ["images", rest @ ..] if !rest.is_empty() => match (method, rest.last().copied()) {
            ("GET" | "HEAD", Some("json" | "history" | "get")) => Route::Allow,
            ("POST", Some("tag")) => Route::Allow,
            ("POST", Some("push")) => deny("pushing images is refused"),
            ("DELETE", _) => Route::Allow,
            _ => unknown(),
        },
        ["commit"] if post => Route::Allow,
        ["build" | "session" | "grpc"] => {
            deny("building images (docker build) is not needed by the lab and is refused")
        }
        ["swarm" | "nodes" | "services" | "tasks" | "secrets" | "configs" | "plugins" | "distribution" | "auth", ..] => {
            deny(format!("{method} {path}: swarm, plugins, registries and credentials are refused"))
        }
        _ => unknown(),
    }
}

/// Decides on a request's JSON body (`Value::Null` when it was empty).
pub fn check_body(kind: Body, body: &Value) -> Result<(), String> {
    ascii_keys(body)?;
    match kind {
        Body::ContainerCreate => container_create(body),
        Body::ContainerStart => {
            if is_zero(body) {
                Ok(())
            } else {
                Err("a host configuration at container start is refused (give it at create)".into())
            }
        }
        Body::ExecCreate => {
            if truthy(field(body, "privileged")) {
                return Err("docker exec --privileged is refused".into());
            }
            Ok(())
        }
        Body::NetworkCreate => network_create(body),
        Body::VolumeCreate => {
            let driver = text(field(body, "driver"));
            if !matches!(driver, "" | "local") {
                return Err(format!("volume driver {driver:?} is refused (only local volumes)"));
            }
            if !is_zero(field(body, "driveropts").unwrap_or(&Value::Null)) {
                return Err(
                    "volume driver options (e.g. -o type=none -o o=bind) are refused: they mount the machine".into()
                );
            }
            Ok(())
        }
    }
}

/// Refuses keys dockerd could read differently from us: non-ASCII ones, or two that differ only in case.
fn ascii_keys(v: &Value) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            let mut seen = std::collections::BTreeSet::new();
            for (k, v) in m {
                if !k.is_ascii() {
                    return Err(format!("the JSON key {k:?} is not ASCII"));
                }
                if !seen.insert(k.to_ascii_lowercase()) {
                    return Err(format!("the JSON key {k:?} appears twice (differing only in case)"));
                }
                ascii_keys(v)?;
            }
            Ok(())
        }
        Value::Array(a) => a.iter().try_for_each(ascii_keys),
        _ => Ok(()),
    }
}

/// A field of an object, by case-insensitive name (keys were checked unique by [`ascii_keys`]).
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

fn truthy(v: Option<&Value>) -> bool {
    v.is_some_and(|v| !is_zero(v))
}

/// Go's zero values, as dockerd would see an absent field: null, false, 0, "", [], {} (objects all zero).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}

fn items(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Top-level container fields the lab may set freely (anything else must be absent or zero).
const CONFIG_FREE: &[&str] = &[
    "hostname",
    "domainname",
    "user",
    "attachstdin",
    "attachstdout",
    "attachstderr",
    "exposedports",
    "tty",
    "openstdin",
    "stdinonce",
    "env",
    "cmd",
    "healthcheck",
    "argsescaped",
    "image",
    "volumes",
    "workingdir",
    "entrypoint",
    "networkdisabled",
    "macaddress",
    "onbuild",
    "stopsignal",
    "stoptimeout",
    "shell",
    "networkingconfig",
];

/// Host-config fields the lab may set freely; the checked ones are handled one by one below.
const HOST_FREE: &[&str] = &[
    "networkmode",
    "portbindings",
    "restartpolicy",
    "autoremove",
    "volumesfrom",
    "consolesize",
    "dns",
    "dnsoptions",
    "dnssearch",
    "extrahosts",
    "groupadd",
    "links",
    "oomscoreadj",
    "publishallports",
    "readonlyrootfs",
    "tmpfs",
    "shmsize",
    "init",
    "isolation",
    "containeridfile",
    "capdrop",
    "cpushares",
    "memory",
    "nanocpus",
    "cpuperiod",
    "cpuquota",
    "cpurealtimeperiod",
    "cpurealtimeruntime",
    "cpusetcpus",
    "cpusetmems",
    "memoryreservation",
    "memoryswap",
    "memoryswappiness",
    "kernelmemory",
    "kernelmemorytcp",
    "pidslimit",
    "ulimits",
    "blkioweight",
    "blkioweightdevice",
    "blkiodevicereadbps",
    "blkiodevicewritebps",
    "blkiodevicereadiops",
    "blkiodevicewriteiops",
    "cpucount",
    "cpupercent",
    "iomaximumiops",
    "iomaximumbandwidth",
];

fn container_create(body: &Value) -> Result<(), String> {
    let Some(top) = body.as_object() else {
        return if body.is_null() { Ok(()) } else { Err("the container configuration is not a JSON object".into()) };
    };
    labels(field(body, "labels"))?;
    for (k, v) in top {
        let k = k.to_ascii_lowercase();
        if k == "hostconfig" || k == "labels" || CONFIG_FREE.contains(&k.as_str()) {
            continue;
        }
        if !is_zero(v) {
            return Err(format!("the container setting {k} is refused"));
        }
    }
    match field(body, "hostconfig") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(h)) => host_config(h),
        Some(_) => Err("HostConfig is not a JSON object".into()),
    }
}

fn host_config(h: &Map<String, Value>) -> Result<(), String> {
    let get = |name: &str| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    for (key, flag) in [("pidmode", "--pid"), ("ipcmode", "--ipc"), ("utsmode", "--uts"), ("usernsmode", "--userns")] {
        if text(get(key)) == "host" {
            return Err(format!("{flag} host is refused: only the network may be server1's (--network host)"));
        }
    }
    if text(get("cgroupnsmode")) == "host" {
        return Err("--cgroupns host is refused".into());
    }
    if truthy(get("privileged")) {
        return Err("privileged containers (--privileged) are refused".into());
    }
    if truthy(get("capadd")) {
        return Err("added capabilities (--cap-add) are refused".into());
    }
    for (key, flag) in
        [("devices", "--device"), ("devicerequests", "--gpus"), ("devicecgrouprules", "--device-cgroup-rule")]
    {
        if truthy(get(key)) {
            return Err(format!("devices ({flag}) are refused"));
        }
    }
    if truthy(get("cgroupparent")) || truthy(get("cgroup")) {
        return Err("--cgroup-parent is refused: every container stays in the lab's cgroup".into());
    }
    for opt in items(get("securityopt")) {
        let o = opt.as_str().unwrap_or("");
        if !matches!(o, "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true") {
            return Err(format!("--security-opt {o} is refused"));
        }
    }
    // An empty list is not Go's nil here: it unmasks every path.
    if [get("maskedpaths"), get("readonlypaths")].iter().any(|v| v.is_some_and(|v| !v.is_null())) {
        return Err("changing the masked or read-only paths of /proc is refused".into());
    }
    let runtime = text(get("runtime"));
    if !matches!(runtime, "" | "runc") {
        return Err(format!("--runtime {runtime} is refused"));
    }
    if truthy(get("oomkilldisable")) {
        return Err("--oom-kill-disable is refused".into());
    }
    if truthy(get("volumedriver")) {
        return Err("--volume-driver is refused".into());
    }
    if truthy(get("storageopt")) || truthy(get("annotations")) {
        return Err("storage options and runtime annotations are refused".into());
    }
    if let Some(log) = get("logconfig") {
        let driver = text(field(log, "type"));
        if !matches!(driver, "" | "json-file" | "local" | "none") {
            return Err(format!("--log-driver {driver} is refused (json-file, local or none)"));
        }
    }
    for bind in items(get("binds")) {
        let b = bind.as_str().unwrap_or("");
        // NAME:/path is a volume of the lab's engine; /host/path:/path is the machine.
        if b.starts_with('/') || b.starts_with('.') || b.starts_with('~') || !b.contains(':') {
            return Err(format!("bind mounts from the machine (-v {b}) are refused"));
        }
    }
    for m in items(get("mounts")) {
        let kind = text(field(m, "type")).to_ascii_lowercase();
        match kind.as_str() {
            "tmpfs" => {}
            "volume" if !truthy(field(m, "volumeoptions").and_then(|o| field(o, "driverconfig"))) => {}
            _ => return Err(format!("--mount type={kind} is refused (tmpfs and plain volumes only)")),
        }
    }
    if let Some(s) = get("sysctls").and_then(Value::as_object) {
        for k in s.keys() {
            let namespaced = k.starts_with("net.") || k.starts_with("fs.mqueue.") || k.starts_with("kernel.shm");
            if !(namespaced || k.starts_with("kernel.msg") || k == "kernel.sem") {
                return Err(format!("--sysctl {k} is refused (only namespaced ones)"));
            }
        }
    }
    let checked = [
        "pidmode",
        "ipcmode",
        "utsmode",
        "usernsmode",
        "cgroupnsmode",
        "privileged",
        "capadd",
        "devices",
        "devicerequests",
        "devicecgrouprules",
        "cgroupparent",
        "cgroup",
        "securityopt",
        "maskedpaths",
        "readonlypaths",
        "runtime",
        "oomkilldisable",
        "volumedriver",
        "storageopt",
        "annotations",
        "logconfig",
        "binds",
        "mounts",
        "sysctls",
    ];
    for (k, v) in h {
        let k = k.to_ascii_lowercase();
        if !checked.contains(&k.as_str()) && !HOST_FREE.contains(&k.as_str()) && !is_zero(v) {
            return Err(format!("the host setting {k} is refused"));
        }
    }
    Ok(())
}

fn labels(v: Option<&Value>) -> Result<(), String> {
    match v.and_then(Value::as_object).and_then(|m| m.keys().find(|k| k.starts_with("dev.reachlab."))) {
        Some(k) => Err(format!("the label {k} is reachlab's own")),
        None => Ok(()),
    }
}

fn network_create(body: &Value) -> Result<(), String> {
    let driver = text(field(body, "driver"));
    if !matches!(driver, "" | "bridge" | "macvlan" | "ipvlan") {
        return Err(format!("the network driver {driver:?} is refused (bridge, macvlan, ipvlan)"));
    }
    let ipam = text(field(body, "ipam").and_then(|i| field(i, "driver")));
    if !matches!(ipam, "" | "default") {
        return Err(format!("the IPAM driver {ipam:?} is refused"));
    }
    labels(field(body, "labels"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(host: Value) -> Result<(), String> {
        check_body(Body::ContainerCreate, &json!({"Image": "alpine", "Cmd": ["sh"], "HostConfig": host}))
    }

    #[test]
    fn the_handouts_requests_pass() {
        assert_eq!(route("HEAD", "/_ping", ""), Route::Allow);
        assert_eq!(route("POST", "/v1.41/containers/create", "name=alpine1"), Route::Inspect(Body::ContainerCreate));
        assert_eq!(route("POST", "/v1.41/containers/abc/start", ""), Route::Inspect(Body::ContainerStart));
        assert_eq!(route("POST", "/v1.41/networks/create", ""), Route::Inspect(Body::NetworkCreate));
        assert_eq!(route("POST", "/v1.41/networks/alpine-net/connect", ""), Route::Allow);
        assert_eq!(route("GET", "/v1.41/images/library/alpine:3/json", ""), Route::Allow);
        assert_eq!(route("POST", "/v1.41/images/create", "fromImage=alpine&tag=latest"), Route::Allow);
        assert_eq!(route("POST", "/v1.41/exec/abc/start", ""), Route::Allow);
        assert_eq!(route("DELETE", "/v1.41/containers/alpine1", "force=1"), Route::Allow);
        for host in [
            json!({"NetworkMode": "host"}),
            json!({"NetworkMode": "alpine-net", "Binds": null, "CapAdd": null, "Privileged": false}),
            json!({"NetworkMode": "default", "Binds": ["data:/data"], "Mounts": [{"Type": "tmpfs", "Target": "/t"}]}),
            json!({"Sysctls": {"net.ipv4.ip_forward": "1"}, "LogConfig": {"Type": "json-file", "Config": {}}}),
            json!({"SecurityOpt": ["no-new-privileges"], "CapDrop": ["ALL"], "PidMode": "container:x"}),
        ] {
            assert_eq!(create(host.clone()), Ok(()), "{host}");
        }
        let macvlan = json!({"Name": "macv", "Driver": "macvlan", "Options": {"parent": "enp0s3"},
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "192.168.56.0/24"}]}});
        assert_eq!(check_body(Body::NetworkCreate, &macvlan), Ok(()));
        assert_eq!(check_body(Body::ContainerStart, &Value::Null), Ok(()));
        assert_eq!(check_body(Body::ContainerStart, &json!({})), Ok(()));
    }

    #[test]
    fn escapes_are_refused_with_a_reason() {
        for host in [
            json!({"Privileged": true}),
            json!({"privileged": true}),
            json!({"Binds": ["/:/host"]}),
            json!({"Binds": ["/var/run/docker.sock:/s"]}),
            json!({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]}),
            json!({"Mounts": [{"Type": "volume", "Source": "v", "Target": "/v",
                "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"device": "/", "o": "bind"}}}}]}),
            json!({"PidMode": "host"}),
            json!({"IpcMode": "host"}),
            json!({"UTSMode": "host"}),
            json!({"UsernsMode": "host"}),
            json!({"CapAdd": ["SYS_ADMIN"]}),
            json!({"Devices": [{"PathOnHost": "/dev/vda", "PathInContainer": "/dev/vda"}]}),
            json!({"CgroupParent": "/elsewhere"}),
            json!({"SecurityOpt": ["seccomp=unconfined"]}),
            json!({"SecurityOpt": ["apparmor=unconfined"]}),
            json!({"MaskedPaths": []}),
            json!({"Runtime": "runsc"}),
            json!({"LogConfig": {"Type": "journald"}}),
            json!({"Sysctls": {"kernel.domainname": "x"}}),
            json!({"SomethingNew": "x"}),
            json!({"Privileged": false, "privileged": true}),
            json!({"ſecurityOpt": ["seccomp=unconfined"]}),
        ] {
            assert!(create(host.clone()).is_err(), "{host} must be refused");
        }
        assert!(check_body(Body::ExecCreate, &json!({"Cmd": ["sh"], "Privileged": true})).is_err());
        assert!(check_body(Body::ContainerStart, &json!({"Binds": ["/:/host"]})).is_err());
        assert!(check_body(Body::NetworkCreate, &json!({"Name": "n", "Driver": "weave"})).is_err());
        let opts = json!({"Name": "v", "DriverOpts": {"type": "none", "o": "bind", "device": "/"}});
        assert!(check_body(Body::VolumeCreate, &opts).is_err());
        let label = json!({"Image": "alpine", "Labels": {"dev.reachlab.run": "other"}});
        assert!(check_body(Body::ContainerCreate, &label).is_err());
    }

    #[test]
    fn unknown_and_ambiguous_paths_are_refused() {
        for (m, p, q) in [
            ("POST", "/v1.41/build", ""),
            ("POST", "/session", ""),
            ("POST", "/v1.41/containers/x/update", ""),
            ("PUT", "/v1.41/containers/x/archive", "path=/"),
            ("POST", "/v1.41/swarm/init", ""),
            ("POST", "/v1.41/plugins/pull", ""),
            ("POST", "/v1.41/containers%2Fcreate", ""),
            ("POST", "/v1.41/containers/../containers/create", ""),
            ("POST", "/v1.41//containers/create", ""),
            ("POST", "/v1.41/images/create", "fromSrc=http://x/a.tar"),
            ("GET", "/v1.41/nothing", ""),
            ("PUT", "/v1.41/containers/create", ""),
        ] {
            assert!(matches!(route(m, p, q), Route::Deny(_)), "{m} {p}?{q} must be refused");
        }
    }
}

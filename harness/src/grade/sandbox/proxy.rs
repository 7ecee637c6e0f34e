//! The submission's Docker socket: a small HTTP front owned by reachlab, in front of the lab's private engine.
//! Every request is decided by [`super::policy`]: allowed ones are forwarded (bodies and answers stream through;
//! `docker attach`/`exec` upgrade the connection and are then copied both ways), refused ones get a 403 whose
//! message the docker CLI prints ("Error response from daemon: reachlab refused …"), and every refusal is also
//! kept here so reachlab can add it to the submission's output whatever the script did with the answer.

use super::policy::{self, Route};
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The largest configuration body read for inspection.
const BODY_LIMIT: usize = 1 << 20;
/// How many refusals are kept for the output.
const KEEP_REFUSALS: usize = 50;

type ProxyBody = Either<Full<Bytes>, Incoming>;

/// A running front; dropping it stops it and removes its socket.
pub struct Proxy {
    socket: PathBuf,
    refusals: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Proxy {
    /// Listens on `socket` (mode 0666: the sandbox's root is an unprivileged user of the machine) and forwards
    /// what the policy allows to the engine at `engine`.
    pub fn start(socket: &Path, engine: &Path) -> std::io::Result<Proxy> {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_file(socket);
        let listener = tokio::net::UnixListener::bind(socket)?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))?;
        let refusals = Arc::new(Mutex::new(Vec::new()));
        let (engine, kept) = (Arc::new(engine.to_path_buf()), refusals.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (engine, kept) = (engine.clone(), kept.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(req, engine.clone(), kept.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Ok(Proxy { socket: socket.to_path_buf(), refusals, task })
    }

    /// Every refusal so far (the first [`KEEP_REFUSALS`]), as "METHOD PATH: why".
    pub fn refusals(&self) -> Vec<String> {
        self.refusals.lock().expect("refusals lock").clone()
    }
}

fn refuse(kept: &Mutex<Vec<String>>, what: String, why: &str) -> Response<ProxyBody> {
    let mut k = kept.lock().expect("refusals lock");
    if k.len() < KEEP_REFUSALS {
        k.push(format!("{what}: {why}"));
    }
    let body = serde_json::json!({ "message": format!("reachlab refused {what}: {why}") }).to_string();
    Response::builder()
        .status(StatusCode::FORBIDDEN)
        .header("content-type", "application/json")
        .body(Either::Left(Full::new(Bytes::from(body))))
        .expect("static response")
}

fn failure(status: StatusCode, why: String) -> Response<ProxyBody> {
    let body = serde_json::json!({ "message": why }).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Either::Left(Full::new(Bytes::from(body))))
        .expect("static response")
}

async fn handle(
    mut req: Request<Incoming>,
    engine: Arc<PathBuf>,
    kept: Arc<Mutex<Vec<String>>>,
) -> Result<Response<ProxyBody>, Infallible> {
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let what = format!("{method} {path}");
    let body = match policy::route(&method, &path, req.uri().query().unwrap_or("")) {
        Route::Deny(why) => return Ok(refuse(&kept, what, &why)),
        Route::Allow => None,
        Route::Inspect(kind) => Some(kind),
    };
    let client_upgrade = req.headers().contains_key(hyper::header::UPGRADE).then(|| hyper::upgrade::on(&mut req));
    let (mut parts, incoming) = req.into_parts();
    let body = match body {
        None => Either::Right(incoming),
        Some(kind) => {
            let bytes = match Limited::new(incoming, BODY_LIMIT).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return Ok(refuse(&kept, what, "the request body is too large or broken")),
            };
            let value = if bytes.iter().all(u8::is_ascii_whitespace) {
                serde_json::Value::Null
            } else {
                match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    Err(e) => return Ok(refuse(&kept, what, &format!("the request body is not JSON ({e})"))),
                }
            };
            if let Err(why) = policy::check_body(kind, &value) {
                return Ok(refuse(&kept, what, &why));
            }
            // The bytes checked are the bytes forwarded, with their exact length.
            parts.headers.remove(hyper::header::TRANSFER_ENCODING);
            parts.headers.insert(hyper::header::CONTENT_LENGTH, bytes.len().into());
            Either::Left(Full::new(bytes))
        }
    };
    let stream = match tokio::net::UnixStream::connect(engine.as_path()).await {
        Ok(s) => s,
        Err(e) => return Ok(failure(StatusCode::BAD_GATEWAY, format!("the lab's engine does not answer: {e}"))),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(x) => x,
        Err(e) => return Ok(failure(StatusCode::BAD_GATEWAY, format!("the lab's engine does not answer: {e}"))),
    };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut resp = match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(e) => return Ok(failure(StatusCode::BAD_GATEWAY, format!("the lab's engine failed: {e}"))),
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = client_upgrade {
            let engine_side = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                if let (Ok(a), Ok(b)) = (client.await, engine_side.await) {
                    let (mut a, mut b) = (TokioIo::new(a), TokioIo::new(b));
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
        }
    }
    Ok(resp.map(Either::Right))
}

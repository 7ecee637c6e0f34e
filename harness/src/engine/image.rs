//! Images without a registry. A suite says `image = "alpine"` as the lab does. If the private engine lacks it,
//! reachlab copies it from the machine's own engine when that has it (read only: the machine's engine is never
//! changed), and otherwise builds a stand-in offline: a root filesystem holding the machine's static busybox,
//! imported through the Engine API under the suite's image name. Probes never rely on tools inside the image.

use super::EngineError;
use bollard::query_parameters::{CreateImageOptions, ImportImageOptions};
use bollard::Docker;
use futures::{StreamExt, TryStreamExt};
use std::path::{Path, PathBuf};

/// Where an image came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ImageSource {
    /// The engine had it.
    Present,
    /// Copied from the machine's engine.
    Copied,
    /// Built offline from the machine's static busybox.
    StandIn {
        /// The busybox binary used.
        busybox: String,
    },
}

impl ImageSource {
    /// Words for the report.
    pub fn describe(&self, image: &str) -> String {
        match self {
            ImageSource::Present => format!("image {image}: present in the engine"),
            ImageSource::Copied => format!("image {image}: copied from the machine's Docker engine"),
            ImageSource::StandIn { busybox } => {
                format!("image {image}: no registry and no local copy; a stand-in built offline from {busybox}")
            }
        }
    }
}

fn split(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// Whether an ELF file is statically linked (no PT_INTERP program header): a dynamic busybox would not run in
/// a root filesystem without a C library.
fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |o: usize| bytes.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize);
    if bytes.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else { return false };
    (0..phnum).all(|i| bytes.get(phoff + i * phentsize..phoff + i * phentsize + 4) != Some(&3u32.to_le_bytes()[..]))
}

/// The machine's static busybox, if any.
pub fn find_busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| std::fs::read(p).is_ok_and(|b| is_static_elf(&b)))
}

/// The stand-in's `nc` (harness/standin/nc.c, built static by build.rs): UDP as the lab's alpine does it
/// (`nc -u -l -p 2020`, `nc HOST 2020 -u`), everything else handed to busybox's own nc.
const STANDIN_NC: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/standin-nc"));

/// A root filesystem tarball: busybox, a link per applet (`nc` is [`STANDIN_NC`]), /etc/passwd and /etc/group.
pub fn rootfs_tar(busybox: &Path) -> Result<Vec<u8>, EngineError> {
    let io = |op: &str| EngineError::io(op.to_string());
    let list = std::process::Command::new(busybox).arg("--list").output().map_err(io("list busybox applets"))?;
    let applets = String::from_utf8_lossy(&list.stdout).into_owned();
    let mut tar = tar::Builder::new(Vec::new());
    let dir = |tar: &mut tar::Builder<Vec<u8>>, path: &str| -> std::io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        tar.append_data(&mut h, path, std::io::empty())
    };
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "usr", "usr/bin", "sbin"] {
        dir(&mut tar, d).map_err(io("build the stand-in image"))?;
    }
    let binary = std::fs::read(busybox).map_err(io("read busybox"))?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(binary.len() as u64);
    tar.append_data(&mut h, "bin/busybox", binary.as_slice()).map_err(io("build the stand-in image"))?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(STANDIN_NC.len() as u64);
    tar.append_data(&mut h, "bin/nc", STANDIN_NC).map_err(io("build the stand-in image"))?;
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty() && !["busybox", "nc"].contains(a)) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox").map_err(io("build the stand-in image"))?;
    }
    for (path, text) in [("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(text.len() as u64);
        tar.append_data(&mut h, path, text.as_bytes()).map_err(io("build the stand-in image"))?;
    }
    tar.into_inner().map_err(io("build the stand-in image"))
}

/// Makes `image` available to `engine`.
pub async fn ensure(
    engine: &Docker,
    image: &str,
    machine: Option<&Docker>,
    run_id: &str,
) -> Result<ImageSource, EngineError> {
    if engine.inspect_image(image).await.is_ok() {
        return Ok(ImageSource::Present);
    }
    if let Some(machine) = machine {
        if machine.inspect_image(image).await.is_ok() {
            let bytes: Vec<bytes::Bytes> = machine
                .export_image(image)
                .try_collect()
                .await
                .map_err(EngineError::api(format!("export {image} from the machine's engine")))?;
            let body = bollard::body_full(bytes.concat().into());
            engine
                .import_image(ImportImageOptions::default(), body, None)
                .try_collect::<Vec<_>>()
                .await
                .map_err(EngineError::api(format!("load {image} into the lab's engine")))?;
            return Ok(ImageSource::Copied);
        }
    }
    let busybox = find_busybox().ok_or_else(|| EngineError::Start(format!(
        "image {image} is not available offline and there is no static busybox to build a stand-in: install the Debian package busybox-static"
    )))?;
    let tar = rootfs_tar(&busybox)?;
    let (repo, tag) = split(image);
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag.into()),
        // The label marks the stand-in as reachlab's, so teardown in a shared engine removes only its own.
        changes: vec!["CMD [\"/bin/sh\"]".into(), format!("LABEL dev.reachlab.run={run_id}")],
        ..Default::default()
    };
    let mut progress = engine.create_image(Some(options), Some(bollard::body_full(tar.into())), None).boxed();
    while let Some(step) = progress.next().await {
        step.map_err(EngineError::api(format!("import the stand-in for {image}")))?;
    }
    Ok(ImageSource::StandIn { busybox: busybox.display().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert_eq!(split("alpine"), ("alpine", "latest"));
        assert_eq!(split("alpine:3.19"), ("alpine", "3.19"));
        assert_eq!(split("localhost:5000/alpine"), ("localhost:5000/alpine", "latest"));
    }

    #[test]
    fn the_stand_in_nc_is_static_and_replaces_busybox_s() {
        assert!(is_static_elf(STANDIN_NC), "it must run in a root filesystem without a C library");
        let Some(busybox) = find_busybox() else { return };
        let tar = rootfs_tar(&busybox).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let nc: Vec<_> = archive
            .entries()
            .unwrap()
            .flatten()
            .filter(|e| e.path().unwrap().to_str() == Some("bin/nc"))
            .map(|e| (e.header().entry_type(), e.header().size().unwrap()))
            .collect();
        assert_eq!(nc, vec![(tar::EntryType::Regular, STANDIN_NC.len() as u64)]);
    }

    #[test]
    fn static_elf_detection() {
        assert!(!is_static_elf(b"not an elf"));
        if let Ok(sh) = std::fs::read("/bin/sh") {
            assert!(!is_static_elf(&sh), "/bin/sh is dynamically linked on Debian");
        }
    }
}

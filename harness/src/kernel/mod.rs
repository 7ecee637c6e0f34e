//! Everything that talks to the kernel: named network namespaces, the one netlink wrapper, feature detection,
//! privileges. Nothing outside this module builds a netlink request or calls `setns`.

pub mod baseline;
pub mod cgroup;
pub mod features;
pub mod neigh;
pub mod netlink;
pub mod netns;
pub mod nftrace;
pub mod privilege;
pub mod request;
pub mod sockdiag;
pub mod userns;

//! herald-manager: the service manager core of herald.
//!
//! This crate currently holds the low-level operating-system layer:
//!
//! * [`sys`] — thin safe wrappers around Linux system calls (`recvmsg` with
//!   `SCM_PIDFD`, `clone3` with `CLONE_INTO_CGROUP`, `PIDFD_GET_INFO`, …).
//!   It is the only module allowed to use `unsafe`.
//! * [`cgroup`] — cgroup v2 discovery, the manager's delegated subtree and
//!   per-service cgroups.
//! * [`spawn`] — starting service processes (optionally directly inside a
//!   cgroup) with a pidfd and an exec-report pipe.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod cgroup;
pub mod control;
pub mod manager;
pub mod paths;
pub mod receiver;
pub mod spawn;
#[allow(unsafe_code)]
pub mod sys;
pub mod unit;
pub mod users;

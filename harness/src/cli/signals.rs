//! Interrupts: SIGINT, SIGTERM and SIGHUP are caught from the first instruction of `main` (so a signal during
//! start-up cannot kill the process with a lab half built), recorded, and acted on where it is safe: a run that
//! is building or probing stops and tears its lab down; a teardown that is under way is finished first. Either
//! way the process then exits 130 (or 4 if the teardown did not finish).
//!
//! The handler only stores the signal number (an async-signal-safe atomic store); everything else polls
//! [`received`].

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The first interrupting signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The signals that interrupt a run.
const INTERRUPTS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    // Keep the first: it is the one the user sent; a second Ctrl-C during teardown must not abandon it.
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Installs the handlers. Called first thing in `main`; children started later get the default dispositions
/// back at exec (caught signals are reset by execve).
pub fn install() {
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
    for sig in INTERRUPTS {
        // SAFETY: the handler only performs an atomic compare-exchange, which is async-signal-safe.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            eprintln!("reachlab: cannot catch {sig}: {e} (an interrupt would leave the lab for `reachlab clean`)");
        }
    }
}

/// The interrupting signal received so far, if any.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// How a signal is named in messages.
pub fn describe(sig: Signal) -> &'static str {
    match sig {
        Signal::SIGINT => "interrupt",
        other => other.as_str(),
    }
}

/// Resolves once an interrupting signal has been received (immediately if one already was).
pub async fn interrupted() -> Signal {
    loop {
        if let Some(sig) = received() {
            return sig;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

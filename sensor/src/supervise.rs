//! PID 1 duties: signals are blocked and read from a signalfd, forwarded to
//! the application, every zombie is reaped, and a stop signal starts a grace
//! period after which the application is killed. When the controller's
//! heartbeat stops ([`crate::heartbeat`]), the sensor stops the application
//! itself the same way.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rslim_sensor::{AppOutcome, HEARTBEAT_PATH};
use std::os::fd::AsFd;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::heartbeat::Heartbeat;

/// Signals passed on to the application as they arrive.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Which signals are forwarded and which of them mean "stop".
pub struct SignalPlan {
    forwarded: Vec<Signal>,
    stopping: Vec<Signal>,
    /// The image's StopSignal, else SIGTERM: what `docker stop` sends.
    stop: Signal,
}

/// Parses a StopSignal as Docker writes it: `SIGWINCH`, `WINCH` or `28`.
pub fn parse_signal(name: &str) -> Option<Signal> {
    let name = name.trim();
    if let Ok(number) = name.parse::<i32>() {
        return Signal::try_from(number).ok();
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).ok()
}

impl SignalPlan {
    /// TERM, INT and QUIT always stop; `stop_signal` (the image's StopSignal) is added.
    pub fn new(stop_signal: Option<&str>) -> Result<SignalPlan, String> {
        let mut plan = SignalPlan {
            forwarded: FORWARDED.to_vec(),
            stopping: vec![Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT],
            stop: Signal::SIGTERM,
        };
        if let Some(name) = stop_signal {
            let signal = parse_signal(name)
                .filter(|s| ![Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGCHLD].contains(s))
                .ok_or_else(|| {
                    format!("stop signal {name:?} cannot be caught; TERM, INT and QUIT still stop")
                })?;
            plan.stop = signal;
            for list in [&mut plan.forwarded, &mut plan.stopping] {
                if !list.contains(&signal) {
                    list.push(signal);
                }
            }
        }
        Ok(plan)
    }

    /// What `docker stop` would send: the image's StopSignal, else SIGTERM.
    pub fn stop_signal(&self) -> Signal {
        self.stop
    }

    /// Blocks the plan's signals and SIGCHLD in the calling thread (call it
    /// before any thread starts, so all inherit the mask) and opens a signalfd for them.
    pub fn block(&self) -> nix::Result<SignalFd> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGCHLD);
        for &signal in &self.forwarded {
            set.add(signal);
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
    }
}

/// How supervision ended.
pub struct Supervised {
    pub app: AppOutcome,
    pub stop_requested: bool,
    /// The heartbeat stopped and the sensor stopped the app itself.
    pub abandoned: bool,
}

/// Runs until the application process is gone, reaping everything else on
/// the way; with a `heartbeat`, stops the application once it expires.
pub fn supervise(
    app: Pid,
    plan: &SignalPlan,
    signals: &SignalFd,
    grace: Duration,
    mut heartbeat: Option<Heartbeat>,
) -> Supervised {
    let mut stop_requested = false;
    let mut abandoned = false;
    let mut kill_at: Option<Instant> = None;
    let mut check_at = heartbeat.as_ref().map(|h| Instant::now() + h.check_every());
    loop {
        let wake_at = [kill_at, check_at].into_iter().flatten().min();
        let timeout = match wake_at {
            Some(at) => {
                // Rounded up so a sub-millisecond remainder does not spin.
                let left = at.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => eprintln!("rslim-sensor: waiting for signals failed: {e}"),
        }
        if kill_at.is_some_and(|at| Instant::now() >= at) {
            eprintln!("rslim-sensor: the application did not stop within {grace:?}, killing it");
            let _ = kill(app, Signal::SIGKILL);
            kill_at = None;
        }
        if let (Some(beat), Some(at)) = (heartbeat.as_mut(), check_at) {
            let now = Instant::now();
            if now >= at {
                check_at = Some(now + beat.check_every());
                if !stop_requested && beat.expired(Path::new(HEARTBEAT_PATH), now) {
                    eprintln!(
                        "rslim-sensor: no heartbeat from rslim for {:?}: stopping the application",
                        beat.timeout()
                    );
                    let _ = kill(app, plan.stop_signal());
                    stop_requested = true;
                    abandoned = true;
                    kill_at = Some(now + grace);
                    check_at = None;
                }
            }
        }
        while let Ok(Some(info)) = signals.read_signal() {
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            if signal == Signal::SIGCHLD {
                continue;
            }
            if plan.forwarded.contains(&signal) {
                let _ = kill(app, signal);
            }
            if plan.stopping.contains(&signal) && !stop_requested {
                stop_requested = true;
                kill_at = Some(Instant::now() + grace);
            }
        }
        if let Some(app) = reap(app) {
            return Supervised {
                app,
                stop_requested,
                abandoned,
            };
        }
    }
}

/// How long the sensor stays after writing the findings of a stopped app.
pub const LINGER: Duration = Duration::from_secs(10);

/// After a stop the controller asked for, waits (up to `limit`) for a
/// stopping signal before PID 1 exits. The controller reads the findings
/// from the running container and then removes it: read from an exited
/// container, they wait for the engine's teardown of its network and mounts
/// (90–150 ms here), which a running one does not need (docs/design.md,
/// "The stop stage").
pub fn linger(plan: &SignalPlan, signals: &SignalFd, limit: Duration) {
    let until = Instant::now() + limit;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
        while let Ok(Some(info)) = signals.read_signal() {
            let stopping = Signal::try_from(info.ssi_signo as i32)
                .is_ok_and(|signal| plan.stopping.contains(&signal));
            if stopping {
                return;
            }
        }
        // Orphans re-parented to PID 1 while it waits.
        let _ = reap(Pid::from_raw(0));
    }
}

/// Reaps every exited child; returns the application's outcome if it was among them.
fn reap(app: Pid) -> Option<AppOutcome> {
    let mut outcome = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == app => {
                outcome = Some(AppOutcome::Exited { code })
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == app => {
                outcome = Some(AppOutcome::Signaled {
                    signal: signal as i32,
                })
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return outcome,
            Ok(_) => {}
        }
    }
}

/// Kills whatever is left and reaps it. Only as PID 1 does `kill(-1)` stay inside
/// the container; anywhere else (tests, a mistaken run on a host) it is skipped.
pub fn kill_remaining() {
    if nix::unistd::getpid().as_raw() != 1 {
        return;
    }
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    while waitpid(Pid::from_raw(-1), None).is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signals sent to this test's own thread (blocked there, so they wait
    /// for the signalfd instead of reaching the harness's other threads).
    fn raise_here(signal: Signal) {
        // raise(3) is thread-directed.
        nix::sys::signal::raise(signal).unwrap();
    }

    #[test]
    fn the_linger_ends_at_a_stopping_signal_and_not_at_others() {
        let plan = SignalPlan::new(Some("SIGWINCH")).unwrap();
        let signals = plan.block().unwrap();
        raise_here(Signal::SIGUSR1);
        let started = Instant::now();
        linger(&plan, &signals, Duration::from_millis(300));
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "SIGUSR1 ended the linger"
        );
        for stopping in [Signal::SIGTERM, Signal::SIGWINCH] {
            raise_here(stopping);
            let started = Instant::now();
            linger(&plan, &signals, Duration::from_secs(30));
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{stopping} did not end the linger"
            );
        }
    }

    #[test]
    fn stop_signals_parse_in_every_docker_spelling() {
        assert_eq!(parse_signal("SIGWINCH"), Some(Signal::SIGWINCH));
        assert_eq!(parse_signal("winch"), Some(Signal::SIGWINCH));
        assert_eq!(parse_signal("15"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("99"), None);
    }

    #[test]
    fn the_image_stop_signal_joins_the_stopping_set() {
        let plan = SignalPlan::new(Some("SIGWINCH")).unwrap();
        assert!(plan.stopping.contains(&Signal::SIGWINCH));
        assert_eq!(plan.forwarded.len(), FORWARDED.len());
        let pwr = SignalPlan::new(Some("SIGPWR")).unwrap();
        assert!(pwr.forwarded.contains(&Signal::SIGPWR) && pwr.stopping.contains(&Signal::SIGPWR));
        assert_eq!(plan.stop_signal(), Signal::SIGWINCH);
        let default = SignalPlan::new(None).unwrap();
        assert!(!default.stopping.contains(&Signal::SIGHUP));
        assert_eq!(default.stop_signal(), Signal::SIGTERM);
        assert_eq!(
            SignalPlan::new(Some("SIGQUIT")).unwrap().stop_signal(),
            Signal::SIGQUIT
        );
        assert!(SignalPlan::new(Some("SIGKILL")).is_err());
    }
}

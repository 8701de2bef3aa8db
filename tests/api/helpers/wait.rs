//! Waiting in tests: one bounded poll for "this eventually holds", and explicit events for
//! "nothing more happens" (a whole pass of the campaign worker), never a fixed window.

use super::{TestApp, admin_get, metric};
use invitation_gateway::state::AppState;
use invitation_gateway::store::Clock;
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits before it fails: generous (a thousand-person campaign on a
/// loaded two-core machine took over a minute), since it is only reached when the awaited
/// thing never happens.
pub const PATIENCE: Duration = Duration::from_secs(180);

/// How often [`eventually`] looks: in-process background tasks poll every 20 ms.
pub const POLL: Duration = Duration::from_millis(20);

/// What a probe of [`eventually`] answers: whether the awaited thing holds, and its value.
pub trait Settled {
    /// What [`eventually`] answers once it holds.
    type Value;
    /// `Ok` once it holds; otherwise `Err` with what was seen (for the timeout message).
    fn settled(self) -> Result<Self::Value, String>;
}

impl Settled for bool {
    type Value = ();
    fn settled(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("false".into()) }
    }
}

impl<T> Settled for Option<T> {
    type Value = T;
    fn settled(self) -> Result<T, String> {
        self.ok_or_else(|| "None".into())
    }
}

impl<T> Settled for Result<T, String> {
    type Value = T;
    fn settled(self) -> Result<T, String> {
        self
    }
}

/// Runs `probe` every [`POLL`] until it holds (`true`, `Some(value)` or `Ok(value)`) and
/// answers its value; fails the test after [`PATIENCE`], naming `what` and the last thing seen.
pub async fn eventually<F, Fut>(what: &str, probe: F) -> <Fut::Output as Settled>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Settled,
{
    eventually_every(POLL, PATIENCE, what, probe).await
}

/// [`eventually`], looking every `every` (for probes that cost something, such as a request
/// that may call Google), failing after `within` (where the bound is part of what is asserted).
pub async fn eventually_every<F, Fut>(
    every: Duration,
    within: Duration,
    what: &str,
    mut probe: F,
) -> <Fut::Output as Settled>::Value
where
    F: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: Settled,
{
    let look = || {
        let answer = probe();
        async move { answer.await.settled() }
    };
    poll(every, within, look, Result::is_ok)
        .await
        .unwrap_or_else(|seen| panic!("{what}: not within {within:?} (last seen: {seen})"))
}

/// The one polling loop of the tests: runs `look` every `every` until what it sees `holds`, or
/// until `within` has passed; answers the last thing seen either way, for the caller to assert
/// on (where the bound itself is part of what is asserted, such as "at once").
pub async fn poll<T, F, Fut>(
    every: Duration,
    within: Duration,
    mut look: F,
    holds: impl Fn(&T) -> bool,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + within;
    loop {
        let seen = look().await;
        if holds(&seen) || Instant::now() >= deadline {
            return seen;
        }
        tokio::time::sleep(every).await;
    }
}

/// [`poll`] for a blocking `look`, such as whether a child process has exited, off any runtime
/// (or inside `tokio::task::block_in_place`).
pub fn poll_blocking<T>(
    every: Duration,
    within: Duration,
    mut look: impl FnMut() -> T,
    holds: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let seen = look();
        if holds(&seen) || Instant::now() >= deadline {
            return seen;
        }
        std::thread::sleep(every);
    }
}

/// The campaign `id` as the gateway at `base` answers it to an admin.
pub async fn campaign_at(base: &str, id: &str) -> Value {
    let answer = admin_get(base, &format!("/v1/campaigns/{id}")).await;
    assert_eq!(answer.status, 200, "GET the campaign: {}", answer.body);
    answer.body
}

/// Waits until the campaign `id` at `base` satisfies `done`; answers it.
pub async fn campaign_when(base: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually("the campaign gets there", || async {
        let campaign = campaign_at(base, id).await;
        if done(&campaign) {
            Ok(campaign)
        } else {
            Err(campaign.to_string())
        }
    })
    .await
}

/// Waits until the campaign `id` at `base` completed; answers it.
pub async fn campaign_completed(base: &str, id: &str) -> Value {
    campaign_when(base, id, |c| c["state"] == "completed").await
}

/// Waits until the campaign worker of the gateway whose state is `state` has finished `passes`
/// whole passes that began after this call (see [`TestApp::worker_passes`]).
pub async fn worker_passes(state: &AppState, passes: u64) {
    let mut counter = state.campaigns.passes();
    // The pass under way may have read the clock before the caller moved it.
    let target = *counter.borrow_and_update() + passes + 1;
    tokio::time::timeout(PATIENCE, counter.wait_for(|n| *n >= target))
        .await
        .expect("the campaign worker finishes its passes")
        .expect("the campaign worker runs");
}

/// [`worker_passes`] for a gateway process at `base`, read through its `/metrics`: waits
/// until its campaign worker has finished `passes` whole passes that began after this call.
pub async fn worker_passes_at(base: &str, passes: u64) {
    const PASSES: &str = "gateway_campaign_worker_passes_total";
    // The pass under way may have begun before the caller's change.
    let target = metric(base, PASSES).await + (passes + 1) as f64;
    eventually(
        &format!("{base}'s campaign worker finishes {passes} more passes"),
        || async {
            let done = metric(base, PASSES).await;
            if done >= target {
                Ok(())
            } else {
                Err(format!("{done} of {target} passes"))
            }
        },
    )
    .await;
}

impl TestApp {
    /// Waits until the campaign worker has finished `passes` whole passes that began after
    /// this call: whatever the worker would do at the store clock's current time, it has done
    /// (the explicit event that stands for "nothing more happens").
    pub async fn worker_passes(&self, passes: u64) {
        worker_passes(&self.state, passes).await;
    }

    /// Runs one webhook delivery round of every endpoint here and now, as the background loop
    /// does: whatever is due at the store clock's current time is attempted before this
    /// answers (the explicit event that stands for "nothing more is delivered").
    pub async fn delivery_rounds(&self) {
        let tracking = &self.state.tracking;
        for endpoint in tracking.webhook_endpoints() {
            tracking.deliver_once(endpoint).await;
        }
    }

    /// Waits until exactly `n` calls of Google's `method` reached the emulator.
    pub async fn calls_reach(&self, method: &str, n: u64) {
        eventually(&format!("{n} {method} calls reach Google"), || async {
            let calls = self.calls(method).await;
            if calls == n {
                Ok(())
            } else {
                Err(format!("{calls} calls"))
            }
        })
        .await;
    }

    /// Waits until the campaign `id` completed, moving `clock` on by `step` after every look
    /// that `moves` holds for (a campaign waiting for budget, for Google or for the store);
    /// answers it.
    pub async fn completed_moving(
        &self,
        clock: &Clock,
        id: &str,
        step: Duration,
        moves: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually("the campaign completes", || async {
            let campaign = campaign_at(&self.address, id).await;
            if campaign["state"] == "completed" {
                return Ok(campaign);
            }
            if moves(&campaign) {
                clock.advance(step);
            }
            Err(campaign.to_string())
        })
        .await
    }
}

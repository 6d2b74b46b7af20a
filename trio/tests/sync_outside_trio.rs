//! Misuse outside a trio run is an error, not a panic: primitives that need the
//! current task report `ErrorKind::Usage` when there is none.

use trio::ErrorKind;
use trio::sync::{CapacityLimiter, Condition, Lock};

#[test]
fn primitives_report_use_outside_trio_as_usage_errors() {
    let lock = Lock::new();
    assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(lock.acquire_nowait().unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::Usage);
    let cond = Condition::new();
    assert_eq!(cond.notify(1).unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(cond.notify_all().unwrap_err().kind(), ErrorKind::Usage);
    let limiter = CapacityLimiter::new(1);
    assert_eq!(
        limiter.acquire_nowait().unwrap_err().kind(),
        ErrorKind::Usage
    );
    assert_eq!(limiter.release().unwrap_err().kind(), ErrorKind::Usage);
}

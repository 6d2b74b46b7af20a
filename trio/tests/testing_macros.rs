//! `#[trio::test]` and `#[trio::main]`: options, return types, and the replay seed a
//! failing test prints.

use std::process::Command;
use std::time::Duration;

#[trio::test]
async fn plain_test_runs_on_trio() {
    trio::lowlevel::checkpoint().await.unwrap();
    assert_eq!(trio::lowlevel::current_task().name(), "<main>");
}

#[trio::test]
async fn test_may_return_a_result() -> trio::Result<()> {
    trio::sleep(Duration::from_millis(1)).await
}

#[trio::test(autojump)]
async fn autojump_makes_an_hour_pass_instantly(clock: trio::testing::MockClock) {
    let t0 = std::time::Instant::now();
    trio::sleep(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        clock.current_time(),
        trio::Instant::ZERO + Duration::from_secs(3600)
    );
    assert!(t0.elapsed() < Duration::from_secs(60));
}

#[trio::test(mock_clock)]
async fn mock_clock_is_frozen_until_jumped(clock: trio::testing::MockClock) {
    assert_eq!(trio::current_time(), trio::Instant::ZERO);
    clock.jump(Duration::from_secs(5));
    assert_eq!(
        trio::current_time(),
        trio::Instant::ZERO + Duration::from_secs(5)
    );
}

#[trio::test(seed = 1234)]
async fn seed_option_sets_the_scheduling_seed() {
    assert_eq!(trio::lowlevel::current_seed(), 1234);
}

/// Fails on purpose when `TRIO_MACRO_FAIL` is set (run by the test below in a child
/// process); passes otherwise.
#[trio::test(seed = 987654321)]
async fn failing_child_test() {
    if std::env::var_os("TRIO_MACRO_FAIL").is_some() {
        panic!("deliberate failure");
    }
}

#[test]
fn a_failing_test_prints_its_replay_seed() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "failing_child_test", "--test-threads=1"])
        .env("TRIO_MACRO_FAIL", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("TRIO_SEED=987654321"), "{text}");
    assert!(text.contains("deliberate failure"), "{text}");
}

#[test]
fn trio_seed_environment_variable_sets_the_default_seed() {
    // Builder reads TRIO_SEED when no seed is given; check through a child process so
    // the variable does not leak into other tests.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "print_default_seed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TRIO_SEED", "4242")
        .env("TRIO_PRINT_SEED", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("seed=4242"), "{text}");
}

#[test]
fn print_default_seed() {
    if std::env::var_os("TRIO_PRINT_SEED").is_none() {
        return;
    }
    let rt = trio::Runtime::new();
    println!("seed={}", rt.seed());
}
